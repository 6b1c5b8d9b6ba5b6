"""Comparing two checkpoints: schema, row counts, per-column summaries and differing rows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from checkpointing import (
    CheckpointDiff,
    CheckpointManager,
    CheckpointNotFoundError,
    diff_checkpoints,
    diff_frames,
)
from checkpointing.__main__ import main


def _frame(n: int = 10) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "price": np.arange(n, dtype="float64") + 100.0,
            "volume": np.arange(n, dtype="int64") * 10,
            "ticker": pd.Series(["AAPL"] * n, dtype="str"),
            "date": pd.date_range("2023-01-02", periods=n, freq="B"),
        }
    )


def _column(diff: CheckpointDiff, name: str):
    return next(c for c in diff.columns if c.name == name)


def test_identical_frames_are_reported_identical() -> None:
    diff = diff_frames(_frame(), _frame())
    assert diff.identical
    assert diff.rows_changed == diff.rows_only_in_a == diff.rows_only_in_b == 0
    assert {c.status for c in diff.columns} == {"same"}
    assert "identical" in diff.format()


def test_columns_added_and_removed() -> None:
    a = _frame()
    b = a.drop(columns=["volume"]).assign(ma_5=1.0, flag=True)
    diff = diff_frames(a, b)
    assert diff.columns_removed == ["volume"]
    assert diff.columns_added == ["ma_5", "flag"]
    assert _column(diff, "volume").changed_rows is None
    assert not diff.identical


@pytest.mark.parametrize(
    ("column", "new_dtype"),
    [("volume", "float64"), ("price", "float32"), ("ticker", "category"), ("volume", "str")],
)
def test_dtype_changes_are_listed(column: str, new_dtype: str) -> None:
    a = _frame()
    b = a.astype({column: new_dtype})
    diff = diff_frames(a, b)
    assert diff.dtype_changes == {column: (str(a[column].dtype), str(b[column].dtype))}
    assert _column(diff, column).status == "dtype changed"


def test_row_counts_and_rows_only_on_one_side() -> None:
    a = _frame(10)
    b = pd.concat([a.drop(index=[2, 3]), _frame(12).iloc[[10, 11]]])
    diff = diff_frames(a, b)
    assert (diff.rows_a, diff.rows_b) == (10, 10)
    assert diff.matched_by == "index"
    assert diff.rows_in_both == 8
    assert diff.rows_only_in_a == 2
    assert diff.rows_only_in_b == 2
    assert diff.only_in_a_examples == (2, 3)
    assert diff.only_in_b_examples == (10, 11)
    assert diff.rows_changed == 0


def test_null_counts_and_numeric_deltas() -> None:
    a = _frame(10)
    b = a.copy()
    b.loc[[1, 4], "price"] = np.nan
    b["volume"] = b["volume"] + 5
    diff = diff_frames(a, b)
    price, volume = _column(diff, "price"), _column(diff, "volume")
    assert (price.nulls_a, price.nulls_b) == (0, 2)
    assert price.changed_rows == 2
    assert volume.deltas == pytest.approx({"mean": 5.0, "min": 5.0, "max": 5.0, "std": 0.0})
    assert volume.stats_a["max"] == 90
    assert price.stats_b["mean"] == pytest.approx(b["price"].mean())
    assert _column(diff, "date").stats_a == {
        "min": "2023-01-02T00:00:00",
        "max": "2023-01-13T00:00:00",
    }


def test_changed_rows_are_matched_by_index_label_not_position() -> None:
    a = _frame(6)
    b = a.iloc[::-1].copy()  # same rows, reversed order
    b.loc[4, "price"] = -1.0
    diff = diff_frames(a, b, max_examples=3)
    assert diff.rows_changed == 1
    assert diff.changed_examples == ({"index": 4, "changes": {"price": [104.0, -1.0]}},)


def test_missing_values_on_both_sides_count_as_equal() -> None:
    a = _frame(5)
    a.loc[2, "price"] = np.nan
    assert diff_frames(a, a.copy()).identical


def test_duplicate_index_falls_back_to_positions() -> None:
    a = _frame(4).set_index(pd.Index([0, 0, 1, 1]))
    b = a.copy()
    b.iloc[3, 0] = 0.0
    diff = diff_frames(a, b.iloc[:3].pipe(lambda f: pd.concat([f, b.iloc[[3]]])))
    assert diff.matched_by == "position"
    assert diff.rows_changed == 1


def test_examples_are_capped() -> None:
    a = _frame(50)
    b = a.assign(price=0.0)
    diff = diff_frames(a, b, max_examples=4)
    assert diff.rows_changed == 50
    assert len(diff.changed_examples) == 4


def test_to_dict_is_strict_json_even_with_nan_and_timestamps() -> None:
    a = _frame(5)
    b = a.copy()
    b.loc[0, "price"] = np.nan
    b.loc[1, "date"] = pd.NaT
    b["all_null"] = np.nan
    text = json.dumps(diff_frames(a, b).to_dict(), allow_nan=False)
    data = json.loads(text)
    assert data["rows"]["changed"] == 2
    assert data["columns_added"] == ["all_null"]
    example = data["rows"]["changed_examples"][0]
    assert example == {"index": 0, "changes": {"price": [100.0, None]}}


def test_format_is_an_aligned_table() -> None:
    a = _frame()
    b = a.assign(volume=a["volume"].astype("float64"), extra=1)
    lines = diff_frames(a, b, id_a="first", id_b="second").format().splitlines()
    assert lines[0].startswith("A  first")
    assert "columns added    extra" in lines
    assert "dtype changes    volume int64 -> float64" in lines
    table = lines[lines.index(next(x for x in lines if x.startswith("column "))) :]
    header = table[0]
    price_row = next(x for x in table if x.startswith("price "))
    # the right-aligned "changed rows" figures end where the header ends
    assert len(price_row) == len(header)


def _store(tmp_path) -> tuple[CheckpointManager, str, str]:
    manager = CheckpointManager(tmp_path / "ckpt")
    a = _frame(20)
    b = a.drop(index=[0]).assign(ma_5=a["price"].rolling(5).mean())
    b.loc[7, "price"] = 0.5
    id_a = manager.save_checkpoint("etl_run", "data_extraction", a)
    id_b = manager.save_checkpoint("etl_run", "data_preprocessing", b)
    return manager, id_a, id_b


def test_diff_checkpoints_loads_both_and_names_their_stages(tmp_path) -> None:
    manager, id_a, id_b = _store(tmp_path)
    diff = diff_checkpoints(manager, id_a, id_b)
    assert (diff.id_a, diff.id_b) == (id_a, id_b)
    assert diff.info_a["stage"] == "data_extraction"
    assert diff.info_b["pipeline_id"] == "etl_run"
    assert diff.columns_added == ["ma_5"]
    assert (diff.rows_only_in_a, diff.rows_changed) == (1, 1)


def test_diff_checkpoints_unknown_id(tmp_path) -> None:
    manager, id_a, _ = _store(tmp_path)
    with pytest.raises(CheckpointNotFoundError):
        diff_checkpoints(manager, id_a, id_a[:-4] + "0000")


def test_cli_diff_prints_the_report(tmp_path, capsys) -> None:
    _, id_a, id_b = _store(tmp_path)
    assert main(["--dir", str(tmp_path / "ckpt"), "diff", id_a, id_b]) == 0
    out = capsys.readouterr().out
    assert f"A  {id_a}  stage data_extraction" in out
    assert "columns added    ma_5" in out
    assert "rows             20 -> 19 (-1)" in out
    assert "index 7: price 107 -> 0.5" in out


def test_cli_diff_json(tmp_path, capsys) -> None:
    _, id_a, id_b = _store(tmp_path)
    assert main(["--dir", str(tmp_path / "ckpt"), "diff", id_a, id_b, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["a"]["id"] == id_a
    assert data["b"]["stage"] == "data_preprocessing"
    assert data["columns_added"] == ["ma_5"]
    assert data["rows"]["only_in_a_examples"] == [0]


def test_cli_diff_unknown_checkpoint_is_one_line_error(tmp_path, capsys) -> None:
    _, id_a, _ = _store(tmp_path)
    assert main(["--dir", str(tmp_path / "ckpt"), "diff", id_a, id_a[:-4] + "0000"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:")
    assert len(err.strip().splitlines()) == 1


def test_large_frames_compare_vectorised() -> None:
    n = 200_000
    rng = np.random.default_rng(7)
    a = pd.DataFrame({"x": rng.random(n), "y": rng.integers(0, 9, n)})
    b = a.copy()
    b.loc[::1000, "x"] = -1.0
    diff = diff_frames(a, b.sample(frac=1.0, random_state=3))
    assert diff.rows_changed == 200
    assert _column(diff, "y").changed_rows == 0
