"""Exact round trips of every dtype in the docs' table, refusals at save, metadata JSON rules."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
import uuid
import zoneinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xxhash
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkpointing import CheckpointDecodeError, CheckpointManager, IntegrityError
from checkpointing.store._codec import to_table
from checkpointing.store._jsonvalues import metadata_to_json
from checkpointing.store._parquet import dictionary_columns
from tests.checkpointing._frames import (
    CASES,
    HOLIDAYS,
    NO_JSON_FREQ,
    assert_exact,
    nan_string,
)


@pytest.fixture
def manager(tmp_path):
    return CheckpointManager(tmp_path / "ckpt")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_row_of_the_dtype_table_holds(manager, case):
    """docs/checkpointing.md's dtype table: each row round-trips exactly or is refused at save."""
    for frame in case.frames():
        if case.outcome == "exact":
            checkpoint_id = manager.save_checkpoint("etl", "s", frame)
            loaded = manager.load_checkpoint(checkpoint_id)
            assert_exact(loaded["data"], frame)
            assert loaded["state"]["rows"] == len(frame)
            manager.verify_checkpoint(checkpoint_id)
        else:
            with pytest.raises(TypeError):
                manager.save_checkpoint("etl", "s", frame)
            assert not list(manager.checkpoint_dir.glob("*.parquet")), "a refused frame was written"


def test_the_docs_table_lists_exactly_the_tested_rows():
    text = (Path(__file__).parents[2] / "docs" / "checkpointing.md").read_text()
    section = text.split("<!-- dtype table -->")[1].split("<!-- end of dtype table -->")[0]
    rows = [line.split(" | ")[:2] for line in section.splitlines() if line.startswith("| ")]
    documented = [(name[2:].replace("`", ""), outcome) for name, outcome in rows[1:]]
    expected = [
        (c.name, "exact" if c.outcome == "exact" else "refused (`TypeError`)") for c in CASES
    ]
    assert documented == expected


@pytest.mark.parametrize(
    "freq",
    [
        pd.offsets.CustomBusinessDay(holidays=HOLIDAYS),
        pd.offsets.CustomBusinessDay(holidays=HOLIDAYS, weekmask="Mon Wed Fri"),
        pd.offsets.BusinessHour(start="10:00", end="12:30"),
        pd.offsets.CustomBusinessHour(holidays=HOLIDAYS, start="09:30"),
        pd.DateOffset(months=1, days=2),
        pd.offsets.Week(weekday=2),
        pd.offsets.MonthEnd(2),
        "15min",
    ],
    ids=str,
)
def test_index_freq_comes_back_with_the_stored_values_never_regenerated(manager, freq):
    """Regression: a CustomBusinessDay with holidays came back as plain "C" (60% wrong values),
    BusinessHour(10-12:30) as default "bh", and DateOffset(months=1, days=2) failed to load."""
    frame = pd.DataFrame({"v": range(12)}, index=pd.date_range("2024-01-01", periods=12, freq=freq))
    loaded = manager.load_checkpoint(manager.save_checkpoint("etl", "s", frame))["data"]
    assert_exact(loaded, frame)
    assert loaded.index.freq == frame.index.freq  # type: ignore[attr-defined]


def test_a_freq_that_cannot_be_described_is_refused_with_a_hint(manager):
    index = pd.date_range("2024-01-01", periods=2, freq=NO_JSON_FREQ)
    frame = pd.DataFrame({"v": range(2)}, index=index)
    with pytest.raises(TypeError, match=r"freq .* cannot be stored exactly.*freq = None"):
        manager.save_checkpoint("etl", "s", frame)
    frame.index.freq = None  # type: ignore[attr-defined]
    assert_exact(manager.load_checkpoint(manager.save_checkpoint("etl", "s", frame))["data"], frame)


def test_an_intact_file_that_cannot_be_decoded_is_not_called_damaged(manager):
    """Regression: an ArrowDtype list column saved fine, then loaded as "failed verification"."""
    frame = pd.DataFrame({"c": [1, 2]})
    checkpoint_id = manager.save_checkpoint("etl", "s", frame)
    path = manager.checkpoint_dir / f"{checkpoint_id}.parquet"
    table = pq.read_table(path)
    meta = dict(table.schema.metadata)
    ours = json.loads(meta[b"stagepoint"])
    ours["columns"]["c"] = {}  # a description this codec cannot apply
    meta[b"stagepoint"] = json.dumps(ours).encode()
    pq.write_table(table.replace_schema_metadata(meta), path)  # as a buggy codec would write it
    rewrite_checksums(manager, checkpoint_id)
    with pytest.raises(CheckpointDecodeError) as info:
        manager.load_checkpoint(checkpoint_id)
    assert not isinstance(info.value, IntegrityError)  # type: ignore[unreachable]
    assert "intact" in str(info.value)
    with pytest.raises(CheckpointDecodeError):
        manager.verify_checkpoint(checkpoint_id)


def rewrite_checksums(manager, checkpoint_id):
    """Make the manifest describe the data file as it now is (an intact, different file)."""
    path = manager.checkpoint_dir / f"{checkpoint_id}.parquet"
    manifest = manager.checkpoint_dir / f"{checkpoint_id}.json"
    data = path.read_bytes()
    state = json.loads(manifest.read_text())
    state.update(data_size=len(data), data_hash=hashlib.sha256(data).hexdigest())
    state.update(data_xxh3=xxhash.xxh3_64_hexdigest(data))
    manifest.write_text(json.dumps(state))


def test_the_file_is_plain_parquet(manager):
    frame = pd.DataFrame(
        {"a": [1.0, 2.0, 3.0]},
        index=pd.date_range("2024-03-10", periods=3, freq="h", tz="America/New_York"),
    )
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
}


@pytest.mark.parametrize("data", BAD_DATA.values(), ids=BAD_DATA.keys())
def test_data_that_is_not_a_frame_is_a_type_error_and_writes_nothing(manager, data):
    with pytest.raises(TypeError, match=r"pandas\.DataFrame or a pyarrow\.Table"):
        manager.save_checkpoint("etl", "s", data)
    assert not manager.checkpoint_dir.exists()


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"o": pd.Series([1, "a"], dtype=object)}), "column 'o' has dtype object"),
        (pd.DataFrame({"o": pd.Series(["a", None, np.nan], dtype=object)}), "one kind"),
        (pd.DataFrame({"c": pd.arrays.SparseArray([0, 1])}), "column 'c' has dtype Sparse"),
        (pd.DataFrame({"v": [1]}, index=pd.Index([1], name=5)), "index level 0's name"),
        (pd.DataFrame({"__index_level_0__": [1]}), "reserved"),
    ],
    ids=["mixed object", "two markers", "sparse", "int index name", "reserved name"],
)
def test_refusals_name_the_column_and_the_reason(manager, frame, message):
    with pytest.raises(TypeError, match=message):
        manager.save_checkpoint("etl", "s", frame)


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


def large_mixed_frame(rows=20_000):
    rng = np.random.default_rng(1)
    tickers = np.array([f"T{i:02d}" for i in range(40)], dtype=object)[rng.integers(0, 40, rows)]
    ids = np.array([f"id-{i}" for i in rng.permutation(rows)], dtype=object)
    tickers[::7] = np.nan  # one marker per column, put back exactly
    ids[::5] = None
    return pd.DataFrame(
        {
            "price": rng.standard_normal(rows),
            "lot": rng.integers(1, 5, rows) * 100,
            "ticker": pd.Series(tickers, dtype=object),
            "id": pd.Series(ids, dtype=object),
            "side": pd.Categorical(rng.choice(["buy", "sell"], rows)),
        }
    )


def test_dictionary_encoding_only_where_a_sample_shows_repeats():
    table, _ = to_table(large_mixed_frame())
    assert dictionary_columns(table) == ["lot", "ticker", "side"]


def test_large_object_columns_round_trip_exactly_with_and_without_a_dictionary(manager):
    frame = large_mixed_frame()
    checkpoint_id = manager.save_checkpoint("etl", "s", frame)
    path = manager.checkpoint_dir / f"{checkpoint_id}.parquet"
    chunks = pq.ParquetFile(path).metadata.row_group(0)
    with_dictionary = {
        chunks.column(i).path_in_schema
        for i in range(chunks.num_columns)
        if chunks.column(i).has_dictionary_page
    }
    assert {"ticker", "side"} <= with_dictionary and "id" not in with_dictionary
    assert_exact(manager.load_checkpoint(checkpoint_id)["data"], frame)


# -- generated frames -----------------------------------------------------------------------

UNITS = st.sampled_from(["s", "ms", "us", "ns"])
ZONES = st.sampled_from(
    [None, "UTC", zoneinfo.ZoneInfo("America/New_York"), dt.timezone(dt.timedelta(hours=-3))]
)
STAMPS = st.lists(
    st.none() | st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1))
)


@st.composite
def dtype_columns(draw: st.DrawFn, n: int) -> pd.Series:
    """One column of a kind from the dtype table, with random values and missing values."""
    kind = draw(st.sampled_from(COLUMN_KINDS))
    values: Any
    texts = st.lists(st.none() | st.text(max_size=5), min_size=n, max_size=n)
    ints = st.lists(st.none() | st.integers(-(2**31), 2**31), min_size=n, max_size=n)
    if kind in ("object", "string[python]", "string[pyarrow]", "str"):
        values = draw(texts)
        dtype = {"object": object, "str": nan_string("pyarrow")}.get(kind, kind)
        return pd.Series(values, dtype=dtype)
    if kind in ("Int32", "UInt16", "Float64", "int64[pyarrow]"):
        values = [None if v is None else abs(v) % 60_000 for v in draw(ints)]
        return pd.Series(values, dtype=kind)
    if kind == "datetime":
        values = draw(STAMPS.filter(lambda v: len(v) == n)) if n else []
        unit: Any = draw(UNITS)
        series = pd.Series(pd.to_datetime(values)).dt.as_unit(unit)
        zone = draw(ZONES)
        return (
            series
            if zone is None
            else series.dt.tz_localize(zone, nonexistent="NaT", ambiguous="NaT")
        )
    if kind == "category of int":
        categories: Any = draw(st.lists(st.integers(-99, 99), min_size=1, max_size=6, unique=True))
        values = draw(st.lists(st.none() | st.sampled_from(categories), min_size=n, max_size=n))
        return pd.Series(pd.Categorical(values, categories=categories, ordered=draw(st.booleans())))
    if kind == "category of str":
        categories = draw(st.lists(st.text(max_size=3), min_size=1, max_size=6, unique=True))
        values = draw(st.lists(st.none() | st.sampled_from(categories), min_size=n, max_size=n))
        return pd.Series(pd.Categorical(values, categories=categories))
    # float32 values that fit float32: a wider value would overflow in the cast
    floats = st.floats(allow_nan=True, allow_infinity=True, width=32 if kind == "float32" else 64)
    values = draw(st.lists(floats, min_size=n, max_size=n))
    return pd.Series(values, dtype=kind)


COLUMN_KINDS = [
    "object", "string[python]", "string[pyarrow]", "str", "Int32", "UInt16", "Float64",
    "int64[pyarrow]", "datetime", "category of int", "category of str", "float32", "float64",
]  # fmt: skip


@st.composite
def table_frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(0, 8))
    names = draw(st.lists(st.text(min_size=1, max_size=4), max_size=4, unique=True))
    names = [name for name in names if not name.startswith("__index_level_")]
    frame = pd.DataFrame({name: draw(dtype_columns(n)) for name in names}, index=pd.RangeIndex(n))
    index_kind = draw(st.sampled_from(["range", "datetime freq", "categorical", "multi"]))
    if index_kind == "datetime freq" and len(frame):
        freq: Any = draw(st.sampled_from(["h", "D", "B", "W-WED", HOLIDAY_FREQ]))
        frame.index = pd.date_range("2024-01-01", periods=len(frame), freq=freq, tz=draw(ZONES))
    elif index_kind == "categorical":
        frame.index = pd.CategoricalIndex(
            draw(st.lists(st.integers(0, 3), min_size=len(frame), max_size=len(frame)))
        )
    elif index_kind == "multi" and len(frame):
        frame.index = pd.MultiIndex.from_arrays(
            [
                draw(st.lists(st.sampled_from("ab"), min_size=len(frame), max_size=len(frame))),
                np.arange(len(frame)),
            ],
            names=["k", None],
        )
    return frame


HOLIDAY_FREQ = pd.offsets.CustomBusinessDay(holidays=HOLIDAYS)


@settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(frame=table_frames())
def test_generated_frames_of_the_table_dtypes_round_trip_exactly(tmp_path_factory, frame):
    """Frames mixing the table's exact kinds (missing values, units, zones, freqs, categories,
    MultiIndex) come back exactly: a property test over the rows, not just one frame each."""
    manager = CheckpointManager(tmp_path_factory.mktemp("ckpt"))
    checkpoint_id = manager.save_checkpoint("etl", "gen", frame)
    assert_exact(manager.load_checkpoint(checkpoint_id)["data"], frame)


@pytest.mark.parametrize(
    ("freq", "unit"),
    [(f, u) for f in ("s", "15min", "h", "250ms") for u in ("s", "ms", "us", "ns")][:-4]
    + [("250ms", u) for u in ("ms", "us", "ns")],  # pandas has no 250ms step in seconds
)
@pytest.mark.parametrize("tz", [None, "UTC", "America/New_York"])
def test_fixed_step_freqs_come_back_in_every_unit_and_zone(manager, unit, tz, freq):
    # Fixed steps are checked by comparing the steps, without generating the index again.
    index = pd.date_range("2024-03-10", periods=50, freq=freq, tz=tz, unit=unit)
    frame = pd.DataFrame({"v": range(50)}, index=index)
    loaded = manager.load_checkpoint(manager.save_checkpoint("p", "s", frame))["data"]
    pd.testing.assert_frame_equal(loaded, frame)
    assert loaded.index.freq == index.freq


@pytest.mark.parametrize("freq", ["s", "h", "250ms"])
def test_fixed_step_freq_of_a_timedelta_index_comes_back(manager, freq):
    frame = pd.DataFrame({"v": range(5)}, index=pd.timedelta_range(0, periods=5, freq=freq))
    loaded = manager.load_checkpoint(manager.save_checkpoint("p", "s", frame))["data"]
    pd.testing.assert_frame_equal(loaded, frame)
    assert loaded.index.freq == frame.index.freq  # type: ignore[attr-defined]
