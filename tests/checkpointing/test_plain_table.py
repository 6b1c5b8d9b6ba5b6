"""The quick conversion of small plain frames gives exactly ``pa.Table.from_pandas``'s table."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import pytz
from hypothesis import given, settings
from hypothesis import strategies as st

from checkpointing import CheckpointManager
from checkpointing.store._plain_table import SMALL_ROWS, plain_table
from tests.checkpointing._frames import CASES, assert_exact

ZONES: list[Any] = [
    "UTC",
    zoneinfo.ZoneInfo("UTC"),
    zoneinfo.ZoneInfo("America/New_York"),
    dt.UTC,
    dt.timezone(dt.timedelta(hours=-3)),
    dt.timezone(dt.timedelta(hours=2), "CEST"),
    pytz.timezone("Europe/Paris"),
    pytz.FixedOffset(90),
]
NUMPY_DTYPES = [
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "bool",
]  # fmt: skip
UNITS = ["s", "ms", "us", "ns"]


def converted(frame: pd.DataFrame) -> pa.Table | None:
    return plain_table(frame, [(str(name), series) for name, series in frame.items()])


def assert_same_table(ours: pa.Table | None, frame: pd.DataFrame) -> None:
    assert ours is not None, "the frame was not converted by the quick path"
    theirs = pa.Table.from_pandas(frame)
    assert ours.schema.metadata == theirs.schema.metadata  # the very bytes
    assert ours.schema.equals(theirs.schema, check_metadata=True)
    assert ours.equals(theirs)


def numeric_frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    return pd.DataFrame({dtype: rng.integers(0, 100, rows).astype(dtype) for dtype in NUMPY_DTYPES})


def times(unit: str, rows: int = 4) -> pd.DatetimeIndex:
    stamps = pd.date_range("2024-03-30", periods=rows, freq="7h")
    values = stamps.astype(f"datetime64[{unit}]").where(np.arange(rows) != 1)  # a NaT
    return pd.DatetimeIndex(values.to_numpy())  # no freq


PLAIN: dict[str, pd.DataFrame] = {
    "every numpy number and bool": numeric_frame(20),
    "NaN, infinities and -0.0 in floats": pd.DataFrame(
        {"f": [np.nan, np.inf, -np.inf, -0.0], "g": np.array([np.nan, 1, 2, 3], "float32")}
    ),
    "no rows": numeric_frame(0),
    "one column, one row": pd.DataFrame({"a": [1]}),
    "the largest quick frame": numeric_frame(SMALL_ROWS),
    "RangeIndex with start, step and name": pd.DataFrame(
        {"a": [1.0, 2.0, 3.0]}, index=pd.RangeIndex(10, 16, 2, name="r")
    ),
    "column labels with a name": pd.DataFrame({"a": [1], "b": [2]}).rename_axis(columns="x"),
    "column labels of object dtype": pd.DataFrame(
        {"a": [1], "b": [2]}, columns=pd.Index(["a", "b"], dtype=object)
    ),
    "unnamed int index": pd.DataFrame({"a": [1.0, 2.0]}, index=pd.Index([7, 3])),
    "named float index": pd.DataFrame({"a": [1, 2]}, index=pd.Index([0.5, np.nan], name="f")),
    "bool index": pd.DataFrame({"a": [1, 2]}, index=pd.Index([True, False])),
    "timedelta column and index": pd.DataFrame(
        {"d": pd.to_timedelta([1, None, 3], unit="s")},
        index=pd.timedelta_range(0, periods=3, freq="h", name="t"),
    ),
    **{
        f"datetime64[{unit}] column and index": pd.DataFrame(
            {"t": times(unit)}, index=times(unit).rename("i")
        )
        for unit in UNITS
    },
    **{
        f"index and column in {zone!r}": pd.DataFrame(
            {"t": times("ns").tz_localize(zone), "v": range(4)},
            index=times("us").tz_localize(zone),
        )
        for zone in ZONES
    },
    "the OHLCV frame of the benchmarks": pd.DataFrame(
        {"close": np.linspace(100, 101, 250), "volume": np.arange(250)},
        index=pd.date_range("2020-01-01", periods=250, freq="s", tz="UTC", name="timestamp"),
    ),
}


@pytest.mark.parametrize("frame", PLAIN.values(), ids=PLAIN.keys())
def test_plain_frames_convert_to_exactly_pyarrows_table(frame):
    assert_same_table(converted(frame), frame)


@pytest.mark.parametrize("frame", PLAIN.values(), ids=PLAIN.keys())
def test_plain_frames_round_trip_exactly(tmp_path, frame):
    manager = CheckpointManager(tmp_path)
    loaded = manager.load_checkpoint(manager.save_checkpoint("p", "s", frame))["data"]
    assert_exact(loaded, frame)


NOT_PLAIN: dict[str, pd.DataFrame] = {
    "more rows than the quick path takes": numeric_frame(SMALL_ROWS + 1),
    "no columns": pd.DataFrame(index=pd.RangeIndex(3)),
    "an object column": pd.DataFrame({"a": [1], "s": pd.Series(["x"], dtype=object)}),
    "a str column": pd.DataFrame({"s": ["x", "y"]}).astype({"s": "string"}),
    "a nullable integer column": pd.DataFrame({"a": pd.array([1, None], dtype="Int64")}),
    "a categorical column": pd.DataFrame({"a": pd.Categorical(["x", "y"])}),
    "a string index": pd.DataFrame({"a": [1]}, index=pd.Index(["k"])),
    "a MultiIndex": pd.DataFrame(
        {"a": [1, 2]}, index=pd.MultiIndex.from_arrays([[1, 2], [3, 4]], names=["x", "y"])
    ),
    "an index named like a column": pd.DataFrame({"a": [1, 2]}, index=pd.Index([5, 6], name="a")),
    "attrs": pd.DataFrame({"a": [1]}).pipe(lambda f: f.attrs.update(source="x") or f),
}


@pytest.mark.parametrize("frame", NOT_PLAIN.values(), ids=NOT_PLAIN.keys())
def test_other_frames_are_left_to_pyarrow_and_still_round_trip(tmp_path, frame):
    assert converted(frame) is None
    manager = CheckpointManager(tmp_path)
    loaded = manager.load_checkpoint(manager.save_checkpoint("p", "s", frame))["data"]
    assert_exact(loaded, frame)


def test_every_table_row_the_quick_path_takes_matches_pyarrow():
    taken = 0
    for case in CASES:
        if case.outcome != "exact":
            continue
        for frame in case.frames():
            ours = converted(frame)
            if ours is not None:
                taken += 1
                assert_same_table(ours, frame)
    assert taken >= 8  # numbers, bools, datetimes of every kind, timedeltas, plain indexes


@st.composite
def plain_frames(draw: st.DrawFn) -> pd.DataFrame:
    rows = draw(st.integers(0, 6))
    names = draw(st.lists(st.text(min_size=1, max_size=3), min_size=1, max_size=4, unique=True))
    names = [n for n in names if not n.startswith("__index_level_")] or ["a"]
    columns: dict[str, Any] = {}
    for name in names:
        dtype = draw(st.sampled_from([*NUMPY_DTYPES, "M8[ms]", "M8[ns, UTC]", "m8[s]"]))
        values = draw(st.lists(st.integers(-100, 100) | st.none(), min_size=rows, max_size=rows))
        if dtype == "bool":
            columns[name] = np.array([bool(v) for v in values])
        elif dtype.startswith(("M8", "m8")):
            unit = "timedelta" if dtype.startswith("m8") else "datetime"
            base = pd.Series([np.nan if v is None else v for v in values], dtype="float64")
            series = (
                pd.to_timedelta(base, unit="s")
                if unit == "timedelta"
                else pd.to_datetime(base, unit="D")
            )
            columns[name] = series.dt.tz_localize("UTC") if "UTC" in dtype else series  # type: ignore[union-attr]
        elif dtype.startswith("float"):
            columns[name] = np.array([np.nan if v is None else v for v in values], dtype)
        else:
            columns[name] = np.array([abs(v or 0) for v in values]).astype(dtype)
    frame = pd.DataFrame(columns)
    if draw(st.booleans()) and rows:
        frame.index = pd.date_range(
            "2024-01-01", periods=rows, freq="h", tz=draw(st.sampled_from([None, "UTC"]))
        )
    return frame


@settings(max_examples=60, deadline=None, derandomize=True)
@given(frame=plain_frames())
def test_generated_plain_frames_convert_to_exactly_pyarrows_table(frame):
    assert_same_table(converted(frame), frame)
