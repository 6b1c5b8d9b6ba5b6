"""Exact round trips of data, rejection of what Parquet cannot hold, metadata JSON rules."""

from __future__ import annotations

import datetime as dt
import enum
import json
import uuid
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from checkpointing import CheckpointManager
from checkpointing.store._codec import metadata_to_json

FRAMES = {
    "range index": pd.DataFrame({"a": [1, 2, 3]}),
    "stepped range index": pd.DataFrame({"a": [1, 2, 3]}, index=pd.RangeIndex(10, 16, 2, name="r")),
    "named index": pd.DataFrame({"a": [1, 2, 3]}, index=pd.Index(["x", "y", "z"], name="key")),
    "integer index": pd.DataFrame({"a": [1, 2, 3]}, index=pd.Index([5, 3, 1])),
    "datetime index": pd.DataFrame(
        {"a": [1.0, 2.0, 3.0]}, index=pd.date_range("2024-01-01", periods=3, freq="D", name="t")
    ),
    "tz datetime index": pd.DataFrame(
        {"a": [1.0, 2.0, 3.0]},
        index=pd.date_range("2024-03-10", periods=3, freq="h", tz="America/New_York"),
    ),
    "irregular datetime index": pd.DataFrame(
        {"a": [1, 2]}, index=pd.DatetimeIndex(["2024-01-01", "2024-02-03"])
    ),
    "business month index": pd.DataFrame(
        {"a": [1, 2, 3]}, index=pd.date_range("2024-01-01", periods=3, freq="BME")
    ),
    "timedelta index": pd.DataFrame(
        {"a": [1, 2, 3]}, index=pd.timedelta_range(0, periods=3, freq="s")
    ),
    "multi index": pd.DataFrame(
        {"a": [1, 2, 3, 4]},
        index=pd.MultiIndex.from_product([["a", "b"], [1, 2]], names=["s", "n"]),
    ),
    "empty": pd.DataFrame(),
    "empty with typed columns": pd.DataFrame(
        {"a": pd.Series([], dtype="int64"), "b": pd.Series([], dtype="float64")}
    ),
    "int": pd.DataFrame({"i8": np.array([1, -2], dtype="int8"), "u32": np.array([1, 2], "uint32")}),
    "float": pd.DataFrame({"f": [1.5, np.nan], "f32": np.array([1, 2], dtype="float32")}),
    "bool": pd.DataFrame({"b": [True, False]}),
    "nullable Int64": pd.DataFrame({"i": pd.array([1, None, 3], dtype="Int64")}),
    "nullable boolean": pd.DataFrame({"b": pd.array([True, None, False], dtype="boolean")}),
    "string": pd.DataFrame({"s": pd.array(["a", None, "c"], dtype="string")}),
    "default str": pd.DataFrame({"s": ["a", None, "c"]}),
    "object strings": pd.DataFrame({"o": pd.Series(["a", None, "c"], dtype=object)}),
    "categorical": pd.DataFrame({"c": pd.Categorical(["x", "y", "x"])}),
    "ordered categorical": pd.DataFrame(
        {"c": pd.Categorical(["x", "y", "x"], categories=["y", "x"], ordered=True)}
    ),
    "tz datetime": pd.DataFrame(
        {"d": pd.to_datetime(["2024-01-01", "NaT"]).tz_localize("Europe/Paris")}
    ),
    "naive datetime": pd.DataFrame({"d": pd.to_datetime(["2024-01-01 12:00", "NaT"])}),
    "timedelta": pd.DataFrame({"t": pd.to_timedelta([1, None], unit="s")}),
}


@pytest.fixture
def manager(tmp_path):
    return CheckpointManager(tmp_path / "ckpt")


@pytest.mark.parametrize("frame", FRAMES.values(), ids=FRAMES.keys())
def test_dataframe_round_trips_exactly(manager, frame):
    checkpoint_id = manager.save_checkpoint("etl", "s", frame)
    loaded = manager.load_checkpoint(checkpoint_id)["data"]
    pd.testing.assert_frame_equal(loaded, frame, check_exact=True)
    assert manager.load_checkpoint(checkpoint_id)["state"]["rows"] == len(frame)


def test_the_file_is_plain_parquet(manager):
    frame = FRAMES["tz datetime index"]
    checkpoint_id = manager.save_checkpoint("etl", "s", frame)
    plain = pd.read_parquet(manager.checkpoint_dir / f"{checkpoint_id}.parquet")
    pd.testing.assert_frame_equal(plain, frame, check_freq=False)


def test_pyarrow_table_is_accepted(manager):
    table = pa.table({"a": [1, 2], "b": ["x", "y"]})
    checkpoint_id = manager.save_checkpoint("etl", "s", table)
    loaded = manager.load_checkpoint(checkpoint_id)
    pd.testing.assert_frame_equal(loaded["data"], table.to_pandas(), check_exact=True)
    assert loaded["state"]["columns"] == {"a": "int64", "b": "string"}


BAD_DATA = {
    "dict": {"a": [1]},
    "series": pd.Series([1, 2]),
    "array": np.arange(3),
    "non-string column name": pd.DataFrame({1: [1]}),
    "duplicate columns": pd.DataFrame([[1, 2]], columns=["a", "a"]),
    "mixed object column": pd.DataFrame({"o": pd.Series([1, "a"], dtype=object)}),
    "integers in object column": pd.DataFrame({"o": pd.Series([1, 2], dtype=object)}),
    "multi-level columns": pd.DataFrame(
        [[1, 2]], columns=pd.MultiIndex.from_tuples([("a", "b"), ("a", "c")])
    ),
}


@pytest.mark.parametrize("data", BAD_DATA.values(), ids=BAD_DATA.keys())
def test_unstorable_data_is_a_type_error_and_writes_nothing(manager, data):
    with pytest.raises(TypeError):
        manager.save_checkpoint("etl", "s", data)
    assert not manager.checkpoint_dir.exists()


def test_type_error_names_what_is_accepted(manager):
    with pytest.raises(TypeError, match=r"pandas\.DataFrame or a pyarrow\.Table"):
        manager.save_checkpoint("etl", "s", [1, 2])


class Color(enum.Enum):
    RED = "red"


CONVERSIONS = [
    (np.int64(3), 3),
    (np.float32(1.5), 1.5),
    (np.bool_(True), True),
    (np.array([[1, 2], [3, 4]]), [[1, 2], [3, 4]]),
    (float("nan"), None),
    (float("inf"), None),
    (np.float64("-inf"), None),
    (dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "2024-01-02T03:04:05+00:00"),
    (dt.date(2024, 1, 2), "2024-01-02"),
    (pd.Timestamp("2024-01-02 03:04", tz="UTC"), "2024-01-02T03:04:00+00:00"),
    (np.datetime64("2024-01-02T03:04"), "2024-01-02T03:04:00"),
    (pd.NaT, None),
    (dt.timedelta(seconds=90), "P0DT0H1M30S"),
    (Decimal("1.10"), "1.10"),
    (Path("/data/x.csv"), "/data/x.csv"),
    (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
    (Color.RED, "red"),
    ((1, "a"), [1, "a"]),
    ({3, 1, 2}, [1, 2, 3]),
    (frozenset({"b", 1}), ["b", 1]),  # not orderable: sorted by JSON text
    ({"nested": {"k": np.int32(1)}}, {"nested": {"k": 1}}),
    ({1: "a"}, {"1": "a"}),
]


@pytest.mark.parametrize(("value", "expected"), CONVERSIONS)
def test_metadata_conversion_rules(value, expected):
    converted = metadata_to_json({"v": value})
    assert converted == {"v": expected}
    json.dumps(converted, allow_nan=False)


class Opaque:
    pass


def _cycle():
    d: dict[str, object] = {}
    d["self"] = d
    return d


@pytest.mark.parametrize(
    "metadata",
    [
        {"frame": pd.DataFrame({"a": [1]})},
        {"obj": Opaque()},
        {"fn": print},
        {(1, 2): "tuple key"},
        _cycle(),
        ["not", "a", "dict"],
    ],
    ids=["dataframe", "object", "function", "tuple key", "cycle", "not a dict"],
)
def test_metadata_without_json_form_is_a_type_error_and_writes_nothing(manager, metadata):
    with pytest.raises(TypeError):
        manager.save_checkpoint("etl", "s", pd.DataFrame({"a": [1]}), metadata=metadata)
    assert not manager.checkpoint_dir.exists()


def test_metadata_is_stored_in_the_manifest(manager):
    checkpoint_id = manager.save_checkpoint(
        "etl",
        "s",
        pd.DataFrame({"a": [1]}),
        metadata={"tickers": ("AAPL", "MSFT"), "n": np.int64(2)},
    )
    state = manager.get_state(checkpoint_id)
    assert state["metadata"] == {"tickers": ["AAPL", "MSFT"], "n": 2}
