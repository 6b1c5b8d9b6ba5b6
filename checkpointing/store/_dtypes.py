"""Exact JSON descriptions of pandas dtypes, and the conversions that restore them on load.

Parquet (through pyarrow) loses some dtypes: ``datetime64[s]`` comes back as ``[ms]``,
categoricals of numbers as plain numbers, ``string[python]`` as the default string storage,
time zones as another class of tz object. Every column and index level that is not a plain
numpy number or bool gets a *spec*: a small JSON dict from which :func:`target_dtype` rebuilds
the exact dtype. :func:`describe` refuses (``TypeError``) any dtype whose spec does not rebuild
an equal dtype, so what saves always loads; :func:`restore` turns what pyarrow decoded into that
dtype and checks the result.

Spec kinds: ``named`` (dtypes pandas rebuilds from their name: datetime64/timedelta64 units,
nullable ``Int64``/``boolean``/``Float64``..., period, interval), ``datetime`` (tz-aware, with
the tz object's kind), ``object`` (object columns of strings, with the missing-value marker),
``string`` (``StringDtype`` storage and NA value), ``category`` (categories, their dtype, order)
and ``arrow`` (``ArrowDtype``, the Arrow type serialised as an IPC schema).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import zoneinfo
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

if TYPE_CHECKING:
    from collections.abc import Callable

__all__: list[str] = []

Spec = dict[str, Any]
_NA_MARKERS: dict[type, str] = {type(None): "none", float: "nan", np.float64: "nan"}
_MARKER_VALUES: dict[str, Any] = {"none": None, "nan": np.nan, "NA": pd.NA, "NaT": pd.NaT}
_NA_MARKERS[type(pd.NA)] = "NA"
_NA_MARKERS[type(pd.NaT)] = "NaT"
# Extension dtypes that pandas rebuilds exactly from their name (nullable, period, interval).
_NAMED = (
    pd.Int8Dtype, pd.Int16Dtype, pd.Int32Dtype, pd.Int64Dtype,
    pd.UInt8Dtype, pd.UInt16Dtype, pd.UInt32Dtype, pd.UInt64Dtype,
    pd.Float32Dtype, pd.Float64Dtype, pd.BooleanDtype, pd.PeriodDtype, pd.IntervalDtype,
)  # fmt: skip


# -- describing ------------------------------------------------------------------------------


def describe(values: Any, where: str) -> Spec | None:
    """The spec of ``values``' dtype, or None for a numpy number or bool (nothing to restore).

    ``values`` is a Series or an Index; its values are only looked at for object dtype.

    Raises:
        TypeError: The dtype (or, for object columns, a value) cannot come back exactly.
    """
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "biuf":
        return None
    if isinstance(dtype, np.dtype) and dtype.kind == "O":
        return _describe_object(values, where)
    if isinstance(dtype, np.dtype) and dtype.kind in "mM":
        spec: Spec = {"kind": "named", "name": str(dtype)}
    elif isinstance(dtype, pd.DatetimeTZDtype):
        spec = {"kind": "datetime", "unit": dtype.unit, "tz": _describe_tz(dtype.tz, where)}
    elif isinstance(dtype, pd.StringDtype):
        spec = {"kind": "string", "storage": _storage(dtype), "na": _string_na(dtype)}
    elif isinstance(dtype, pd.CategoricalDtype):
        spec = _describe_categorical(dtype, where, len(values))
    elif isinstance(dtype, pd.ArrowDtype):
        spec = _describe_arrow(dtype, where)
    elif isinstance(dtype, _NAMED):
        spec = {"kind": "named", "name": str(dtype)}
    else:
        raise TypeError(f"{where} has dtype {dtype}, which cannot be stored exactly")
    try:
        rebuilt = target_dtype(spec, dtype)
    except (TypeError, ValueError, KeyError) as exc:
        raise TypeError(f"{where} has dtype {dtype}, which cannot be stored exactly") from exc
    if not same_dtype(rebuilt, dtype):
        raise TypeError(f"{where} has dtype {dtype}, which cannot be stored exactly")
    return spec


def dtype_name(dtype: Any) -> str:
    """``str(dtype)``, remembered for plain numpy dtypes (equal ones have the same name)."""
    if isinstance(dtype, np.dtype) and dtype.kind != "V":
        return _numpy_name(dtype)
    return str(dtype)


_numpy_name: Callable[[np.dtype[Any]], str] = functools.cache(str)


def same_dtype(a: Any, b: Any) -> bool:
    """Equal dtypes, and equal in every detail ``==`` may gloss over (tz class, tz name)."""
    if a != b or str(a) != str(b) or type(a) is not type(b):
        return False
    if isinstance(a, pd.DatetimeTZDtype):
        return type(a.tz) is type(b.tz) and bool(a.tz.tzname(None) == b.tz.tzname(None))
    if isinstance(a, pd.CategoricalDtype):
        return same_dtype(a.categories.dtype, b.categories.dtype)
    return True


def _describe_object(values: pd.Series | pd.Index, where: str) -> Spec:
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind not in ("string", "empty"):
        raise TypeError(
            f"{where} has dtype object holding {kind} values, which Parquet cannot store "
            "without changing them; convert it to a typed column first (e.g. .astype('int64') "
            "or .astype('string'))"
        )
    array = np.asarray(values, dtype=object)
    missing = array[pd.isna(array)]
    markers = {_NA_MARKERS.get(type(v), "other") for v in missing}
    if len(markers) > 1 or "other" in markers:
        raise TypeError(
            f"{where} marks missing strings with more than one kind of value "
            f"({', '.join(sorted(markers))}); Parquet keeps only 'missing', so they would all "
            "come back as one; use one marker (e.g. .fillna(np.nan)) or .astype('string')"
        )
    return {"kind": "object", "na": markers.pop() if markers else "none"}


def _storage(dtype: pd.StringDtype) -> str:
    return "pyarrow" if dtype.storage in ("pyarrow", "pyarrow_numpy") else str(dtype.storage)


def _string_na(dtype: pd.StringDtype) -> str:
    return "NA" if dtype.na_value is pd.NA else "nan"


def _describe_tz(tz: dt.tzinfo, where: str) -> Spec:
    if isinstance(tz, zoneinfo.ZoneInfo) and tz.key:
        return {"zoneinfo": tz.key}
    if isinstance(tz, dt.timezone):
        offset = tz.utcoffset(None)
        return {
            "fixed": [offset.days, offset.seconds, offset.microseconds],
            "name": tz.tzname(None),
        }
    if type(tz).__module__.startswith("pytz"):
        zone = getattr(tz, "zone", None)
        if zone is not None:
            return {"pytz": zone}
        minutes = getattr(tz, "_minutes", None)
        if isinstance(minutes, int):
            return {"pytz_fixed": minutes}
    raise TypeError(
        f"{where} has time zone {tz!r}, which cannot be stored exactly; use a zoneinfo, pytz "
        "or datetime.timezone time zone (e.g. .dt.tz_convert('Europe/Paris'))"
    )


def _describe_categorical(dtype: pd.CategoricalDtype, where: str, rows: int) -> Spec:
    categories = dtype.categories
    if categories.dtype.kind == "m":
        raise TypeError(
            f"{where} is a categorical of timedeltas, which Parquet stores as bare integers; "
            "store the timedeltas themselves (.astype('timedelta64[ns]'))"
        )
    inner = describe(categories, f"the categories of {where}") or {
        "kind": "named",
        "name": str(categories.dtype),
    }
    spec: Spec = {"kind": "category", "ordered": bool(dtype.ordered), "categories": inner}
    if inner["kind"] in ("object", "string") and len(categories) and rows:
        return spec  # Parquet keeps string dictionaries (order, unused values), if it has rows
    spec["values"] = encode_values(categories, f"the categories of {where}")
    return spec


def _describe_arrow(dtype: pd.ArrowDtype, where: str) -> Spec:
    if not _parquet_keeps(dtype.pyarrow_dtype):
        raise TypeError(
            f"{where} has dtype {dtype}, which Parquet cannot store exactly (date64 and "
            "dictionaries of non-strings come back changed)"
        )
    schema = pa.schema([pa.field("t", dtype.pyarrow_dtype)])
    return {"kind": "arrow", "schema": base64.b64encode(schema.serialize()).decode("ascii")}


def _parquet_keeps(arrow_type: pa.DataType) -> bool:
    if pa.types.is_date64(arrow_type) or isinstance(arrow_type, pa.BaseExtensionType):
        return False
    if pa.types.is_dictionary(arrow_type):
        value_type = arrow_type.value_type
        return bool(
            pa.types.is_string(value_type)
            or pa.types.is_large_string(value_type)
            or pa.types.is_binary(value_type)
        )
    return all(_parquet_keeps(arrow_type.field(i).type) for i in range(arrow_type.num_fields))


# -- values of small indexes (categories, MultiIndex levels) ---------------------------------


def encode_values(index: Any, where: str) -> Any:
    """The values of a small index (categories, levels) as JSON; TypeError if not exact."""
    dtype = index.dtype
    if not len(index):
        encoded: Any = []
    elif isinstance(dtype, np.dtype) and dtype.kind in "biu":
        encoded = index.tolist()
    elif isinstance(dtype, np.dtype) and dtype.kind == "f":
        encoded = [float(v).hex() for v in index]
    elif isinstance(dtype, np.dtype | pd.DatetimeTZDtype) and dtype.kind in "mM":
        encoded = index.asi8.tolist()
    elif pd.api.types.infer_dtype(index, skipna=False) == "string":
        encoded = [str(v) for v in index]
    else:
        raise TypeError(f"{where} have dtype {dtype}, which cannot be stored exactly")
    decoded = decode_values(encoded, dtype)
    if not (decoded.equals(index) and same_dtype(decoded.dtype, dtype)):
        raise TypeError(f"{where} cannot be stored exactly")
    return encoded


def decode_values(encoded: list[Any], dtype: Any) -> Any:
    """The index :func:`encode_values` described, with ``dtype``."""
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        return pd.Index(np.array([float.fromhex(v) for v in encoded], dtype=dtype))
    if isinstance(dtype, pd.DatetimeTZDtype):
        naive = np.array(encoded, dtype="int64").view(f"M8[{dtype.unit}]")
        return pd.DatetimeIndex(naive).tz_localize("UTC").tz_convert(dtype.tz)
    if isinstance(dtype, np.dtype) and dtype.kind in "mM":
        return pd.Index(np.array(encoded, dtype="int64").view(dtype))
    return pd.Index(encoded, dtype=dtype)


# -- rebuilding and restoring ----------------------------------------------------------------


def target_dtype(spec: Spec, loaded: Any = None) -> Any:
    """The dtype ``spec`` stands for (``loaded``: the decoded dtype, for string categories)."""
    kind = spec["kind"]
    if kind == "named":
        return pd.api.types.pandas_dtype(spec["name"])
    if kind == "object":
        return np.dtype(object)
    if kind == "datetime":
        return pd.DatetimeTZDtype(spec["unit"], _rebuild_tz(spec["tz"]))
    if kind == "string":
        return _string_dtype(spec["storage"], spec["na"])
    if kind == "arrow":
        schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(spec["schema"])))
        return pd.ArrowDtype(schema.field(0).type)
    if kind == "category":
        categories_dtype = target_dtype(spec["categories"])
        if "values" in spec:
            categories = decode_values(spec["values"], categories_dtype)
        elif isinstance(loaded, pd.CategoricalDtype):
            categories = loaded.categories.astype(categories_dtype)
        else:
            raise ValueError("string categories were not decoded as a dictionary")
        return pd.CategoricalDtype(categories, ordered=spec["ordered"])
    raise ValueError(f"unknown dtype spec kind {kind!r}")


def _string_dtype(storage: str, na: str) -> Any:
    na_value = pd.NA if na == "NA" else np.nan
    make: Any = pd.StringDtype
    try:
        return make(storage, na_value=na_value)
    except TypeError:  # pandas 2.2: the NaN variant is a storage of its own
        return make("pyarrow_numpy" if na == "nan" else storage)


def _rebuild_tz(spec: Spec) -> dt.tzinfo:
    if "zoneinfo" in spec:
        return zoneinfo.ZoneInfo(spec["zoneinfo"])
    if "fixed" in spec:
        days, seconds, micros = spec["fixed"]
        offset = dt.timedelta(days=days, seconds=seconds, microseconds=micros)
        plain = dt.timezone(offset)
        return plain if plain.tzname(None) == spec["name"] else dt.timezone(offset, spec["name"])
    import pytz  # a pytz zone was saved, so pytz is installed wherever it can be loaded

    zone: dt.tzinfo
    zone = pytz.timezone(spec["pytz"]) if "pytz" in spec else pytz.FixedOffset(spec["pytz_fixed"])
    return zone


def restore(values: Any, spec: Spec, raw: pa.ChunkedArray | None) -> Any:
    """Turn decoded ``values`` (Series or Index) into an array of the dtype ``spec`` describes.

    Returns None when ``values`` already have that dtype. ``raw`` is the Arrow column the
    values were decoded from (used for object and Arrow columns, whose pandas conversion is
    skipped). Raises ValueError if the result is not exactly that dtype, or values would be lost.
    """
    kind = spec["kind"]
    if kind == "object":
        assert raw is not None
        return _to_object(raw, spec["na"])
    if kind == "arrow":
        assert raw is not None
        target = target_dtype(spec)
        arrow_type = target.pyarrow_dtype
        if raw.type != arrow_type or str(raw.type) != str(arrow_type):
            raw = raw.cast(arrow_type)
        return pd.arrays.ArrowExtensionArray(raw)
    target = target_dtype(spec, values.dtype)
    array = values.array
    if same_dtype(array.dtype, target):
        return None
    if kind == "datetime":
        array = array.tz_convert(target.tz)
        if array.unit != target.unit:
            array = array.as_unit(target.unit)
    elif isinstance(target, np.dtype) and target.kind in "mM":
        array = array.as_unit(np.datetime_data(target)[0])
    elif kind == "category":
        array = _to_categorical(array, target)
    else:
        array = array.astype(target)
    if not same_dtype(array.dtype, target):
        raise ValueError(f"decoded dtype {array.dtype}, expected {target}")
    return array


def _to_categorical(array: Any, target: pd.CategoricalDtype) -> pd.Categorical:
    if isinstance(array.dtype, pd.CategoricalDtype):
        if array.dtype.categories.equals(target.categories):
            return pd.Categorical.from_codes(array.codes, dtype=target)
        array = np.asarray(array, dtype=object)  # e.g. no rows: Parquet kept no dictionary
    values = pd.Index(array)
    categories = target.categories
    if isinstance(categories, pd.DatetimeIndex):  # e.g. [ms] values for [s] categories
        values = pd.DatetimeIndex(values).as_unit(categories.unit)
        if categories.tz is not None:  # Arrow holds UTC instants, some pyarrows without the tz
            values = values.tz_localize("UTC") if values.tz is None else values
            values = values.tz_convert(categories.tz)
    codes = categories.get_indexer(values)
    if int((codes == -1).sum()) != int(values.isna().sum()):
        raise ValueError("decoded values are not all among the stored categories")
    return pd.Categorical.from_codes(codes, dtype=target)


def _to_object(raw: pa.ChunkedArray, na: str) -> np.ndarray[Any, Any]:
    marker = _MARKER_VALUES[na]
    parts = [_chunk_to_object(chunk, marker) for chunk in raw.chunks]
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.empty(0, dtype=object)


def _chunk_to_object(chunk: pa.Array, marker: Any) -> np.ndarray[Any, Any]:
    if pa.types.is_dictionary(chunk.type):
        # One Python string per distinct value, then a take: far cheaper than one per row.
        values = np.asarray(chunk.dictionary.to_numpy(zero_copy_only=False), dtype=object)
        codes = chunk.indices.fill_null(0).to_numpy(zero_copy_only=False)
        result = values.take(codes) if len(values) else np.full(len(chunk), None, dtype=object)
    else:
        result = np.asarray(chunk.to_numpy(zero_copy_only=False), dtype=object)
    if chunk.null_count:
        result[chunk.is_null().to_numpy(zero_copy_only=False)] = marker
    return result
