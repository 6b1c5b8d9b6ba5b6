"""Conversion of checkpoint data to Arrow/Parquet and back, and of metadata to strict JSON.

Data: a :class:`pandas.DataFrame` or a :class:`pyarrow.Table`. A DataFrame round-trips exactly
(values, dtypes, index and its ``freq``, column order); what Parquet cannot hold faithfully is a
``TypeError`` before anything is written, never a silent change.

Metadata rules (:func:`to_json_value`):

* ``None``, ``bool``, ``int``, ``str`` and finite ``float`` stay as they are; NaN, +inf and -inf
  become ``null`` (the JSON written is always strict: no ``NaN`` tokens).
* numpy scalars become the matching Python value; numpy arrays become (nested) lists.
* ``datetime``, ``date``, ``time`` and ``pandas.Timestamp`` become ISO 8601 strings; ``NaT``
  becomes ``null``; ``timedelta``/``pandas.Timedelta`` become ISO 8601 durations.
* ``Decimal``, ``UUID`` and paths become their ``str``; enums become their value.
* tuples and lists become lists; sets become lists, sorted when their items are orderable and
  otherwise sorted by their JSON text (so the output never depends on hash order).
* dict keys must be ``str`` (``int`` and numpy integer keys become their decimal string).
* anything else (DataFrames, arbitrary objects, cycles) is a ``TypeError`` naming where it is.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import math
import uuid
from decimal import Decimal
from pathlib import PurePath
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

__all__: list[str] = []

_META_KEY = b"stagepoint"


# -- data ------------------------------------------------------------------------------------


def to_table(data: object) -> tuple[pa.Table, dict[str, str]]:
    """Convert checkpoint data to an Arrow table; also return ``{column: dtype string}``.

    Raises:
        TypeError: ``data`` is neither a DataFrame nor a Table, or holds something Parquet
            cannot store faithfully (non-string or duplicate column names, object columns that
            are not all strings).
    """
    if isinstance(data, pa.Table):
        return data, {field.name: str(field.type) for field in data.schema}
    if not isinstance(data, pd.DataFrame):
        raise TypeError(
            "checkpoint data must be a pandas.DataFrame or a pyarrow.Table, "
            f"not {type(data).__module__}.{type(data).__qualname__}"
        )
    _check_columns(data)
    extra: dict[str, Any] = {}
    object_columns = [str(c) for c, t in data.dtypes.items() if pd.api.types.is_object_dtype(t)]
    for name in object_columns:
        _check_object_values(data[name], f"column {name!r}")
    for level in range(data.index.nlevels):
        values = data.index.get_level_values(level)
        if values.dtype == object:
            _check_object_values(values, f"index level {level}")
    if object_columns:
        extra["object_columns"] = object_columns
    freq = getattr(data.index, "freq", None)
    if freq is not None:
        extra["index_freq"] = freq.freqstr
    if len(data) and not len(data.columns) and isinstance(data.index, pd.RangeIndex):
        # Nothing would be stored: Parquet keeps the row count only through a column.
        extra["range_index_only"] = True
    try:
        table = pa.Table.from_pandas(data)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise TypeError(f"checkpoint data cannot be stored as Parquet: {exc}") from exc
    if extra:
        meta = dict(table.schema.metadata or {})
        meta[_META_KEY] = json.dumps(extra).encode()
        table = table.replace_schema_metadata(meta)
    return table, {str(c): str(t) for c, t in data.dtypes.items()}


def _check_columns(df: pd.DataFrame) -> None:
    bad = [c for c in df.columns if not isinstance(c, str)]
    if bad:
        raise TypeError(
            f"checkpoint column names must be strings (Parquet stores only strings); got {bad[0]!r}"
            f" of type {type(bad[0]).__name__}"
        )
    if df.columns.has_duplicates:
        dupes = sorted(set(df.columns[df.columns.duplicated()]))
        raise TypeError(f"checkpoint column names must be unique; duplicated: {dupes}")


def _check_object_values(values: pd.Series | pd.Index, where: str) -> None:
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind not in ("string", "empty"):
        raise TypeError(
            f"{where} has dtype object holding {kind} values, which Parquet cannot store "
            "without changing them; convert it to a typed column first (e.g. .astype('int64') "
            "or .astype('string'))"
        )


def from_table(table: pa.Table) -> pd.DataFrame:
    """Convert a table written by :func:`to_table` back to the DataFrame that was saved."""
    raw = (table.schema.metadata or {}).get(_META_KEY)
    df: pd.DataFrame = table.to_pandas()
    if raw is None:
        return df
    extra = json.loads(raw)
    for name in extra.get("object_columns", ()):
        if df[name].dtype != object:
            df[name] = df[name].astype(object)
    if extra.get("range_index_only"):
        (spec,) = table.schema.pandas_metadata["index_columns"]  # pandas' own record of it
        index = pd.RangeIndex(spec["start"], spec["stop"], spec["step"], name=spec["name"])
        df = pd.DataFrame(index=index, columns=df.columns)
    freqstr = extra.get("index_freq")
    if freqstr is not None and len(df.index):
        df.index = _with_freq(df.index, freqstr)
    return df


def _with_freq(index: pd.Index, freqstr: str) -> pd.Index:
    # The values were verified against the stored checksum and carried this freq when saved, so
    # regenerating them from the first value is exact and far cheaper than re-validating.
    if isinstance(index, pd.DatetimeIndex):
        return pd.date_range(
            start=index[0], periods=len(index), freq=freqstr, name=index.name, unit=index.unit
        )
    if isinstance(index, pd.TimedeltaIndex):
        return pd.timedelta_range(
            start=index[0], periods=len(index), freq=freqstr, name=index.name, unit=index.unit
        )
    return index


# -- metadata --------------------------------------------------------------------------------


def to_json_value(obj: object, *, where: str = "metadata") -> Any:
    """Convert ``obj`` to a JSON-compatible value by the rules in the module docstring.

    Raises:
        TypeError: Some value has no sane JSON form; the message names its path.
    """
    return _convert(obj, where, set())


def _iso_duration(delta: dt.timedelta) -> str:
    """``pd.Timedelta.isoformat``'s form (``P1DT2H3M4.000005S``, ``P-1DT23H59M59S``)."""
    hours, rest = divmod(delta.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    fraction = f".{delta.microseconds:06d}" if delta.microseconds else ""
    return f"P{delta.days}DT{hours}H{minutes}M{seconds}{fraction}S"


def _convert(obj: object, where: str, seen: set[int]) -> Any:  # noqa: PLR0911, PLR0912
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.generic):
        if isinstance(obj, np.datetime64 | np.timedelta64):
            try:
                value = pd.Timestamp(obj) if isinstance(obj, np.datetime64) else pd.Timedelta(obj)
            except (OverflowError, ValueError) as exc:
                raise TypeError(f"{where} is {obj!r}, out of pandas' range: {exc}") from exc
            return _convert(value, where, seen)
        return _convert(obj.item(), where, seen)
    if obj is pd.NaT:
        return None
    if isinstance(obj, dt.datetime | dt.date | dt.time):
        return obj.isoformat()
    if isinstance(obj, dt.timedelta):
        try:
            return pd.Timedelta(obj).isoformat()
        except (OverflowError, ValueError):  # beyond pandas' ~292 years: same form by hand
            return _iso_duration(obj)
    if isinstance(obj, Decimal | uuid.UUID | PurePath):
        return str(obj)
    if isinstance(obj, enum.Enum):
        return _convert(obj.value, where, seen)
    if isinstance(obj, dict | list | tuple | set | frozenset | np.ndarray):
        if id(obj) in seen:
            raise TypeError(f"{where} refers to itself; metadata must be a tree")
        seen = seen | {id(obj)}
        if isinstance(obj, np.ndarray):
            if obj.dtype == object:
                return [_convert(v, f"{where}[{i}]", seen) for i, v in enumerate(obj.tolist())]
            return _convert(obj.tolist(), where, seen)
        if isinstance(obj, dict):
            return {_key(k, where): _convert(v, f"{where}[{k!r}]", seen) for k, v in obj.items()}
        items = [_convert(v, f"{where}[{i}]", seen) for i, v in enumerate(obj)]
        if isinstance(obj, set | frozenset):
            try:
                items.sort()
            except TypeError:
                items.sort(key=lambda v: json.dumps(v, sort_keys=True))
        return items
    raise TypeError(
        f"{where} is a {type(obj).__module__}.{type(obj).__qualname__}, which has no JSON form; "
        "use numbers, strings, dates, lists or dicts of them"
    )


def _key(key: object, where: str) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, int | np.integer) and not isinstance(key, bool):
        return str(int(key))
    raise TypeError(f"{where} has a key {key!r} of type {type(key).__name__}; keys must be str")


def metadata_to_json(metadata: object) -> dict[str, Any]:
    """Convert the caller's metadata mapping (``None`` → ``{}``) to a JSON-safe dict.

    Raises:
        TypeError: ``metadata`` is not a dict, or holds a value with no JSON form.
    """
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict, not {type(metadata).__name__}")
    converted: dict[str, Any] = to_json_value(metadata)
    json.dumps(converted, allow_nan=False)
    return converted
