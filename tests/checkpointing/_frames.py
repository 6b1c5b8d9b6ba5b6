"""The dtype table of docs/checkpointing.md as test cases, and a strict equality check.

Each case is a row of the table: a name (the table's first column), the outcome the docs
promise ("exact" or "refused") and a function building a small frame that exercises it. The
frames are built so that they exist on every supported pandas (2.2 and 3.x).
"""

# pandas-stubs cannot type these deliberately odd constructions.
# mypy: disable-error-code="call-overload, arg-type, attr-defined"

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import dateutil.relativedelta
import dateutil.tz
import numpy as np
import pandas as pd
import pyarrow as pa
import pytz

PANDAS_3 = int(pd.__version__.split(".")[0]) >= 3
HOLIDAYS = ["2024-01-03", "2024-01-10"]
# Mondays, by way of a dateutil weekday object: an offset argument with no JSON form
NO_JSON_FREQ = pd.DateOffset(days=1, weekday=dateutil.relativedelta.MO(+1))


@dataclass(frozen=True)
class Case:
    name: str
    outcome: str  # "exact" or "refused"
    make: Callable[[], pd.DataFrame | list[pd.DataFrame]]

    def frames(self) -> list[pd.DataFrame]:
        made = self.make()
        return made if isinstance(made, list) else [made]


def col(values, dtype=None, **frame) -> pd.DataFrame:
    return pd.DataFrame({"c": pd.Series(values, dtype=dtype)}, **frame)


def idx(index: pd.Index) -> pd.DataFrame:
    return pd.DataFrame({"v": np.arange(len(index))}, index=index)


def nan_string(storage: str):
    if PANDAS_3:
        return pd.StringDtype(storage, na_value=np.nan)
    return pd.StringDtype("pyarrow_numpy")


def times(unit="us", tz=None, n=3):
    values = pd.to_datetime(["2024-03-30 12:00:01", None, "2024-03-31 12:00:02"][:n])
    values = values.as_unit(unit)
    return values if tz is None else values.tz_localize(tz)


def arrow(values, arrow_type):
    return col(pd.array(values, dtype=pd.ArrowDtype(arrow_type)))


def ungrouped_levels() -> pd.DataFrame:
    # groupby(sort=False) keeps levels in order of appearance: ["b", "a"], not sorted
    frame = pd.DataFrame({"k": ["b", "a", "b"], "n": [2, 1, 2], "v": [1, 2, 3]})
    return frame.groupby(["k", "n"], sort=False).sum()


def unused_levels() -> pd.DataFrame:
    index = pd.MultiIndex.from_product([["a", "b"], [1, 2]], names=["s", "n"])
    return pd.DataFrame({"v": range(4)}, index=index).iloc[:2]


def with_attrs(attrs) -> pd.DataFrame:
    frame = col([1, 2])
    frame.attrs = attrs
    return frame


def labels(values, dtype, **kw) -> pd.DataFrame:
    frame = pd.DataFrame([[1] * len(values)])
    frame.columns = pd.Index(values, dtype=dtype, **kw)
    return frame


E, R = "exact", "refused"
CASES = [
    # numbers and booleans
    Case("int8 … int64, uint8 … uint64", E, lambda: pd.DataFrame(
        {t: np.array([0, 1, 127], dtype=t) for t in
         ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]})),
    Case("float16, float32, float64 (NaN, ±inf, -0.0)", E, lambda: pd.DataFrame(
        {t: np.array([np.nan, np.inf, -np.inf, -0.0], dtype=t)
         for t in ["float16", "float32", "float64"]})),
    Case("bool", E, lambda: col([True, False])),
    Case("complex", R, lambda: col([1 + 2j])),
    # nullable
    Case("Int8 … Int64, UInt8 … UInt64 (with pd.NA)", E, lambda: pd.DataFrame(
        {t: pd.array([1, None], dtype=t) for t in
         ["Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64"]})),
    Case("Float32, Float64 (with pd.NA)", E, lambda: pd.DataFrame(
        {t: pd.array([1.5, None], dtype=t) for t in ["Float32", "Float64"]})),
    Case("boolean (with pd.NA)", E, lambda: col(pd.array([True, None], dtype="boolean"))),
    # strings
    Case("object holding str, missing as None", E, lambda: col(["a", None, "é"], object)),
    Case("object holding str, missing as NaN", E, lambda: col(["a", np.nan], object)),
    Case("object holding str, missing as pd.NA", E, lambda: col(["a", pd.NA], object)),
    Case("object holding str, missing as None and NaN", R,
         lambda: col(["a", None, np.nan], object)),
    Case("object holding ints", R, lambda: col([1, 2], object)),
    Case("object holding mixed values", R, lambda: col([1, "a"], object)),
    Case("object holding bytes", R, lambda: col([b"a", b"b"], object)),
    Case("object holding Decimal", R, lambda: col([Decimal("1.1")], object)),
    Case("string[python]", E, lambda: col(["a", None], "string[python]")),
    Case("string[pyarrow]", E, lambda: col(["a", None], "string[pyarrow]")),
    Case("str (pandas 3 default; string[pyarrow_numpy] on 2.2)", E,
         lambda: col(["a", None], nan_string("pyarrow"))),
    # datetimes
    Case("datetime64[s], [ms], [us], [ns]", E, lambda: pd.DataFrame(
        {u: times(u) for u in ["s", "ms", "us", "ns"]})),
    Case("datetime64 with a zoneinfo time zone, every unit", E, lambda: pd.DataFrame(
        {u: times(u, zoneinfo.ZoneInfo("Europe/Paris")) for u in ["s", "ms", "us", "ns"]})),
    Case("datetime64 with a datetime.timezone (UTC, fixed offset)", E, lambda: pd.DataFrame(
        {"utc": times(tz=dt.UTC), "plus5": times(tz=dt.timezone(dt.timedelta(hours=5)))})),
    Case("datetime64 with a pytz time zone (zone, FixedOffset)", E, lambda: pd.DataFrame(
        {"zone": times(tz=pytz.timezone("Asia/Tokyo")), "fixed": times(tz=pytz.FixedOffset(90))})),
    Case("datetime64 with a dateutil time zone", R,
         lambda: col(times(tz=dateutil.tz.tzutc()))),
    Case("timedelta64[s], [ms], [us], [ns]", E, lambda: pd.DataFrame(
        {u: pd.to_timedelta(["1s", None]).as_unit(u) for u in ["s", "ms", "us", "ns"]})),
    # categoricals
    Case("category of str (ordered, unused categories, NaN)", E, lambda: col(pd.Categorical(
        ["x", None, "y"], categories=["y", "z", "x"], ordered=True))),
    Case("category of object str", E, lambda: col(pd.Categorical(
        pd.Index(["x", "y"], dtype=object)))),
    Case("category of int, float, bool", E, lambda: pd.DataFrame({
        "i": pd.Categorical([3, 1, None], categories=[3, 2, 1]),
        "f": pd.Categorical([1.5, -0.0, np.inf]),
        "b": pd.Categorical([True, False, True])})),
    Case("category of datetime, tz datetime", E, lambda: pd.DataFrame({
        "d": pd.Categorical(times("s")), "tz": pd.Categorical(times(tz="UTC"))})),
    Case("category with no rows, or only missing values", E, lambda: [
        col(pd.Categorical([], categories=[""])), col(pd.Categorical([None], categories=["x"])),
        idx(pd.CategoricalIndex([], categories=["a", "b"]))]),
    Case("category of timedelta, interval or period", R, lambda: [
        col(pd.Categorical(pd.to_timedelta(["1s", None, "2s"]))),
        col(pd.Categorical(pd.interval_range(0, 2))),
        col(pd.Categorical(pd.period_range("2024-01", periods=2, freq="M")))]),
    # other pandas dtypes
    Case("period", E, lambda: pd.DataFrame({
        "m": pd.period_range("2024-01", periods=2, freq="M"),
        "q": pd.period_range("2024Q1", periods=2, freq="Q-NOV")})),
    Case("interval (int, float closed left, datetime)", E, lambda: pd.DataFrame({
        "i": pd.interval_range(0, 2),
        "f": pd.IntervalIndex.from_breaks([0.5, 1.5, 2.5], closed="left"),
        "d": pd.interval_range(pd.Timestamp("2024-01-01"), periods=2)})),
    Case("Sparse", R, lambda: col(pd.arrays.SparseArray([0, 1, 0]))),
    # Arrow-backed
    Case("ArrowDtype: integers, bool, float, decimal, binary", E, lambda: pd.DataFrame({
        "i": pd.array([1, None], dtype="int64[pyarrow]"),
        "b": pd.array([True, None], dtype="bool[pyarrow]"),
        "f": pd.array([1.5, None], dtype="float32[pyarrow]"),
        "d": pd.array([Decimal("1.25"), None], dtype=pd.ArrowDtype(pa.decimal128(10, 2))),
        "y": pd.array([b"x", None], dtype=pd.ArrowDtype(pa.binary()))})),
    Case("ArrowDtype: string, large_string, dictionary of strings", E, lambda: pd.DataFrame({
        "s": pd.array(["a", None], dtype=pd.ArrowDtype(pa.string())),
        "l": pd.array(["a", None], dtype=pd.ArrowDtype(pa.large_string())),
        "d": pd.array(["a", "b"], dtype=pd.ArrowDtype(pa.dictionary(pa.int32(), pa.string())))})),
    Case("ArrowDtype: timestamp[s] (tz too), duration, time32, date32", E, lambda: pd.DataFrame({
        "t": pd.array([pd.Timestamp("2024-01-01 00:00:01"), None],
                      dtype=pd.ArrowDtype(pa.timestamp("s"))),
        "z": pd.array([pd.Timestamp("2024-01-01", tz="UTC"), None],
                      dtype=pd.ArrowDtype(pa.timestamp("s", tz="UTC"))),
        "u": pd.array([pd.Timedelta(1, "s"), None], dtype=pd.ArrowDtype(pa.duration("s"))),
        "h": pd.array([dt.time(1, 2, 3), None], dtype=pd.ArrowDtype(pa.time32("s"))),
        "d": pd.array([dt.date(2024, 1, 1), None], dtype=pd.ArrowDtype(pa.date32()))})),
    Case("ArrowDtype: list, large_list, struct, map", E, lambda: pd.DataFrame({
        "l": pd.array([[1, 2], None, []], dtype=pd.ArrowDtype(pa.list_(pa.int64()))),
        "g": pd.array([["a"], None, []], dtype=pd.ArrowDtype(pa.large_list(pa.string()))),
        "s": pd.array([{"x": 1}, None, {"x": None}],
                      dtype=pd.ArrowDtype(pa.struct([("x", pa.int64())]))),
        "m": pd.array([[("k", 1)], None, []], dtype=pd.ArrowDtype(pa.map_(pa.string(),
                                                                            pa.int64())))})),
    Case("ArrowDtype: date64, dictionary of non-strings", R, lambda: pd.DataFrame({
        "d": pd.array([dt.date(2024, 1, 1)], dtype=pd.ArrowDtype(pa.date64())),
        "i": pd.array([1], dtype=pd.ArrowDtype(pa.dictionary(pa.int8(), pa.int64())))})),
    # indexes
    Case("RangeIndex (start, step, name)", E, lambda: idx(pd.RangeIndex(10, 16, 2, name="r"))),
    Case("Index of int, uint8, float, bool", E, lambda: [
        idx(pd.Index([5, 3])), idx(pd.Index([1, 2], dtype="uint8")),
        idx(pd.Index([1.5, np.nan], name="f")), idx(pd.Index([True, False]))]),
    Case("Index of object str, str, string", E, lambda: [
        idx(pd.Index(["x", None], dtype=object)),
        idx(pd.Index(["x", "y"], dtype=nan_string("pyarrow"))),
        idx(pd.Index(["x", None], dtype="string[python]"))]),
    Case("CategoricalIndex of int, of str", E, lambda: [
        idx(pd.CategoricalIndex([3, 4], categories=[4, 3, 9])),
        idx(pd.CategoricalIndex(["a", "b"]))]),
    Case("DatetimeIndex, any unit and tz, no freq", E, lambda: idx(times("s", "UTC"))),
    Case("DatetimeIndex with freq D, h, W-WED, BME (tz too, across DST)", E, lambda: [
        idx(pd.date_range("2024-03-30", periods=3, freq=f, tz="Europe/Paris"))
        for f in ["D", "h", "W-WED", "BME"]] + [
        idx(pd.date_range("2024-03-31 00:30", periods=5, freq="30min", tz="Europe/Paris"))]),
    Case("DatetimeIndex with freq CustomBusinessDay(holidays=…)", E, lambda: idx(pd.date_range(
        "2024-01-01", periods=8, freq=pd.offsets.CustomBusinessDay(holidays=HOLIDAYS)))),
    Case("DatetimeIndex with freq BusinessHour(start=…, end=…)", E, lambda: idx(pd.date_range(
        "2024-01-01 10:00", periods=7, freq=pd.offsets.BusinessHour(start="10:00",
                                                                     end="12:30")))),
    Case("DatetimeIndex with freq DateOffset(months=1, days=2)", E, lambda: idx(pd.date_range(
        "2024-01-31", periods=4, freq=pd.DateOffset(months=1, days=2)))),
    Case("DatetimeIndex with a freq that has no JSON form", R, lambda: idx(pd.date_range(
        "2024-01-01", periods=3, freq=NO_JSON_FREQ))),
    Case("TimedeltaIndex (with freq)", E, lambda: idx(pd.timedelta_range(0, periods=3,
                                                                         freq="90s"))),
    Case("PeriodIndex, IntervalIndex", E, lambda: [
        idx(pd.period_range("2024Q1", periods=2, freq="Q")), idx(pd.interval_range(0, 2))]),
    Case("MultiIndex (names, mixed dtypes)", E, lambda: idx(pd.MultiIndex.from_arrays(
        [["a", "b"], times("s", "UTC", 2), pd.CategoricalIndex([2, 1])], names=["s", None, "c"]))),
    Case("MultiIndex of one level", E, lambda: idx(pd.MultiIndex.from_arrays([[1, 2]],
                                                                             names=["n"]))),
    Case("MultiIndex with unused levels", E, unused_levels),
    Case("MultiIndex with unsorted levels (groupby(sort=False))", E, ungrouped_levels),
    Case("index name that is not a string", R, lambda: idx(pd.Index([1, 2], name=5))),
    # labels and attributes
    Case("column labels of object or str dtype, with a name", E, lambda: labels(
        ["a", "b"], object, name="fields")),
    Case("no columns at all (rows only)", E, lambda: pd.DataFrame(index=pd.RangeIndex(3))),
    Case("column names that are not unique strings", R, lambda: pd.DataFrame([[1, 2]],
                                                                              columns=["a", 1])),
    Case("MultiIndex columns", R, lambda: pd.DataFrame(
        [[1, 2]], columns=pd.MultiIndex.from_tuples([("a", "b"), ("a", "c")]))),
    Case("a column named like Parquet's index fields (__index_level_0__)", R,
         lambda: pd.DataFrame({"__index_level_0__": [1]})),
    Case("attrs holding JSON values (str keys; str, int, float, bool, None, list, dict)", E,
         lambda: with_attrs({"source": "yahoo", "n": 3, "w": [1.5, None], "ok": True})),
    Case("attrs holding anything else (tuples, numpy scalars, int keys)", R,
         lambda: with_attrs({"pair": (1, 2)})),
]  # fmt: skip


def assert_exact(loaded: pd.DataFrame, original: pd.DataFrame) -> None:
    """Equal values, dtypes (in every detail), labels, index (levels, freq) and attrs."""
    pd.testing.assert_frame_equal(
        loaded, original, check_exact=True, check_freq=True, check_column_type=True
    )
    _same_index(loaded.columns, original.columns)
    for name in original.columns:
        _same_values(loaded[name], original[name])
    _same_index(loaded.index, original.index)
    assert loaded.attrs == original.attrs
    assert repr(loaded.attrs) == repr(original.attrs)


def _same_dtype(a, b) -> None:
    assert a == b and str(a) == str(b) and type(a) is type(b), (a, b)
    if isinstance(a, pd.DatetimeTZDtype):
        assert type(a.tz) is type(b.tz) and repr(a.tz) == repr(b.tz), (a.tz, b.tz)
    if isinstance(a, pd.CategoricalDtype):
        assert list(a.categories) == list(b.categories) and a.ordered == b.ordered
        _same_dtype(a.categories.dtype, b.categories.dtype)


def _same_values(a, b) -> None:
    _same_dtype(a.dtype, b.dtype)
    if a.dtype == object:  # the very missing-value marker, not just "missing"
        assert [type(v) for v in a] == [type(v) for v in b]


def _same_index(a: pd.Index, b: pd.Index) -> None:
    assert type(a) is type(b), (type(a), type(b))
    assert list(a.names) == list(b.names)
    if isinstance(a, pd.RangeIndex):
        assert (a.start, a.stop, a.step) == (b.start, b.stop, b.step)
    for level in range(b.nlevels):
        _same_values(a.get_level_values(level), b.get_level_values(level))
    if isinstance(a, pd.MultiIndex):
        for la, lb in zip(a.levels, b.levels, strict=True):
            assert la.equals(lb), (la, lb)
            _same_dtype(la.dtype, lb.dtype)
    freq_a, freq_b = getattr(a, "freq", None), getattr(b, "freq", None)
    assert type(freq_a) is type(freq_b) and freq_a == freq_b, (freq_a, freq_b)
