"""Conversion of checkpoint data to an Arrow table (stored as Parquet) and back.

Data is a :class:`pandas.DataFrame` or a :class:`pyarrow.Table`. A DataFrame round-trips exactly:
values, column order, every dtype (see :mod:`checkpointing.store._dtypes`), the index (its
class, levels, names and ``freq``), the column labels' dtype and ``attrs``. What cannot come
back exactly is a ``TypeError`` before anything is written; nothing is rebuilt from a lossy
description. The Parquet file stays plain: pyarrow's own pandas metadata is kept, and ours goes
under the schema metadata key ``stagepoint`` (``{"codec": 2, "columns": {name: spec}, ...}``).
How the table is written as Parquet and read back is :mod:`checkpointing.store._parquet`.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from checkpointing.store._dtypes import (
    Spec,
    decode_values,
    describe,
    dtype_name,
    encode_values,
    restore,
    same_dtype,
    target_dtype,
)
from checkpointing.store._offsets import apply_freq, describe_freq, rebuild_freq
from checkpointing.store._plain_table import plain_table

__all__: list[str] = []

META_KEY = b"stagepoint"
CODEC = 2
_OWN_KINDS = ("object", "arrow")  # converted from the Arrow column, not by pyarrow's to_pandas
_INDEX_FIELD = re.compile(r"^__index_level_\d+__$")


# -- saving ----------------------------------------------------------------------------------


def to_table(data: object) -> tuple[pa.Table, dict[str, str]]:
    """Convert checkpoint data to an Arrow table; also return ``{column: dtype string}``.

    Raises:
        TypeError: ``data`` is neither a DataFrame nor a Table, or holds something that could
            not come back exactly (the message names the column or index level and says why).
    """
    if isinstance(data, pa.Table):
        return data, {field.name: str(field.type) for field in data.schema}
    if not isinstance(data, pd.DataFrame):
        raise TypeError(
            "checkpoint data must be a pandas.DataFrame or a pyarrow.Table, "
            f"not {type(data).__module__}.{type(data).__qualname__}"
        )
    _check_labels(data)
    extra: dict[str, Any] = {"codec": CODEC}
    columns: dict[str, Spec] = {}
    dtypes: dict[str, str] = {}
    items = [(str(name), series) for name, series in data.items()]  # names: str, checked
    for name, series in items:
        spec = describe(series, f"column {name!r}")
        if spec is not None:
            columns[name] = spec
        dtypes[name] = dtype_name(series.dtype)
    extra["columns"] = columns
    extra["labels"] = _describe_labels(data.columns)
    if not isinstance(data.index, pd.RangeIndex):
        extra["index"] = _describe_index(data.index)
    elif len(data) and not len(data.columns):
        # Nothing would be stored: Parquet keeps the row count only through a column.
        extra["range_index_only"] = True
    if data.attrs:
        extra["attrs"] = _exact_json(data.attrs, "DataFrame.attrs")
    try:
        table = plain_table(data, items)
        if table is None:
            table = pa.Table.from_pandas(data)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise TypeError(f"checkpoint data cannot be stored as Parquet: {exc}") from exc
    meta = dict(table.schema.metadata or {})
    meta[META_KEY] = json.dumps(extra, allow_nan=False, separators=(",", ":")).encode()
    table = table.replace_schema_metadata(meta)
    return table, dtypes


def _check_labels(df: pd.DataFrame) -> None:
    labels = df.columns.tolist()  # one conversion: iterating an Arrow-backed Index is slow
    bad = [c for c in labels if not isinstance(c, str)]
    if bad:
        raise TypeError(
            f"checkpoint column names must be strings (Parquet stores only strings); got {bad[0]!r}"
            f" of type {type(bad[0]).__name__}"
        )
    if df.columns.has_duplicates:
        dupes = sorted(set(df.columns[df.columns.duplicated()]))
        raise TypeError(f"checkpoint column names must be unique; duplicated: {dupes}")
    reserved = [c for c in labels if _INDEX_FIELD.match(c)]
    if reserved:
        raise TypeError(f"column name {reserved[0]!r} is reserved by Parquet for index levels")
    for what, name in [("the column labels' name", df.columns.name)] + [
        (f"index level {i}'s name", n) for i, n in enumerate(df.index.names)
    ]:
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{what} must be a string or None, not {name!r}")


def _describe_labels(labels: pd.Index) -> Spec:
    if isinstance(labels, pd.RangeIndex):  # only when empty: other labels must be strings
        return {"range": True}
    return {"dtype": describe(labels, "the column labels")}


def _describe_index(index: pd.Index) -> Spec:
    levels = [index.get_level_values(i) for i in range(index.nlevels)]
    spec: Spec = {
        "multi": isinstance(index, pd.MultiIndex),
        "levels": [describe(level, f"index level {i}") for i, level in enumerate(levels)],
    }
    if isinstance(index, pd.MultiIndex):
        canonical = pd.MultiIndex.from_arrays(levels)
        spec["level_values"] = [
            None
            if kept.equals(level) and same_dtype(kept.dtype, level.dtype)
            else encode_values(level, f"the levels of index level {i}")
            for i, (kept, level) in enumerate(zip(canonical.levels, index.levels, strict=True))
        ]
    else:
        spec["freq"] = describe_freq(index)
    return spec


def _exact_json(value: dict[Any, Any], where: str) -> Any:
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{where} cannot be stored exactly: {exc}") from exc
    if json.loads(text) != value or _json_types(json.loads(text)) != _json_types(value):
        raise TypeError(
            f"{where} cannot be stored exactly (only str keys, and str, int, float, bool, "
            "None, list and dict values survive JSON unchanged)"
        )
    return value


def _json_types(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_types(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return (type(value), [_json_types(v) for v in value])
    return type(value)


# -- loading ---------------------------------------------------------------------------------


def from_table(table: pa.Table, *, index: pd.Index | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Convert a table written by :func:`to_table` back to the DataFrame that was saved.

    ``index`` is the frame's index when it was generated instead of read (the table then lacks
    its column; see :mod:`checkpointing.store._regular_index`).

    Returns:
        The DataFrame, and the names of the columns that were saved (a Table's own field
        names, for a Table), to compare with the manifest.

    Raises:
        ValueError, TypeError, KeyError: The stored description cannot be applied (the file
            was written by another codec, or by a pandas with a dtype this one lacks).
    """
    raw = (table.schema.metadata or {}).get(META_KEY)
    if raw is None:
        return table.to_pandas(), list(table.column_names)
    extra = json.loads(raw)
    if extra.get("codec") == CODEC:
        df = _decode_frame(table, extra, index)
    else:
        df = _from_legacy(table, extra)
    return df, [str(c) for c in df.columns]


def _decode_frame(table: pa.Table, extra: dict[str, Any], index: pd.Index | None) -> pd.DataFrame:
    specs: dict[str, Spec] = extra["columns"]
    own = [name for name, spec in specs.items() if spec["kind"] in _OWN_KINDS]
    df = _to_pandas(table, own, without_index=index is not None)
    for name, spec in specs.items():
        if name not in own:
            restored = restore(df[name], spec, None)
            if restored is not None:
                df[name] = restored
    if own:
        index_fields = _index_fields(table)
        names = [n for n in table.column_names if n not in index_fields]
        for position, name in enumerate(names):
            if name in own:
                values = restore(None, specs[name], table.column(name))
                df.insert(position, name, pd.Series(values, index=df.index, dtype=values.dtype))
    if extra.get("range_index_only"):
        df = pd.DataFrame(index=_range_index(table), columns=df.columns)
    if index is not None:
        df.index = index
    elif "index" in extra:
        df.index = _restore_index(df.index, extra["index"], table)
    df.columns = _restore_labels(df.columns, extra["labels"])
    df.attrs = extra.get("attrs", {})
    return df


def _index_fields(table: pa.Table) -> list[str]:
    meta = table.schema.pandas_metadata or {}
    return [d for d in meta.get("index_columns", []) if isinstance(d, str)]


def _to_pandas(table: pa.Table, own: list[str], *, without_index: bool = False) -> pd.DataFrame:
    """pyarrow's conversion, skipping the columns in ``own`` (and their pandas metadata);
    ``without_index``: the table lacks its index column, and the frame gets a RangeIndex."""
    if own or without_index:
        meta = dict(table.schema.metadata)
        pandas_meta = json.loads(meta[b"pandas"])
        skipped = set(own)
        if without_index:
            skipped.update(f for f in pandas_meta["index_columns"] if isinstance(f, str))
            pandas_meta["index_columns"] = [
                {"kind": "range", "name": None, "start": 0, "stop": table.num_rows, "step": 1}
            ]
        pandas_meta["columns"] = [
            c for c in pandas_meta["columns"] if c.get("field_name", c["name"]) not in skipped
        ]
        meta[b"pandas"] = json.dumps(pandas_meta).encode()
        table = table.drop_columns(own).replace_schema_metadata(meta)
        if not table.num_columns:  # only a RangeIndex is left, and no row count with it
            return pd.DataFrame(index=_range_index(table))
    df: pd.DataFrame = table.to_pandas()
    return df


def _range_index(table: pa.Table) -> pd.RangeIndex:
    (spec,) = table.schema.pandas_metadata["index_columns"]  # pandas' own record of it
    return pd.RangeIndex(spec["start"], spec["stop"], spec["step"], name=spec["name"])


def _restore_index(index: pd.Index, spec: Spec, table: pa.Table) -> pd.Index:
    fields = _index_fields(table)
    levels = [index.get_level_values(i) for i in range(index.nlevels)]
    names = list(index.names)
    for i, level_spec in enumerate(spec["levels"]):
        if level_spec is None:
            continue
        raw = table.column(fields[i]) if level_spec["kind"] in _OWN_KINDS else None
        values = restore(levels[i], level_spec, raw)
        if values is not None:
            levels[i] = pd.Index(values, dtype=values.dtype, name=names[i], copy=False)
    if not spec["multi"]:
        result = levels[0] if isinstance(levels[0], pd.Index) else pd.Index(levels[0])
        if spec.get("freq") is not None:
            with_freq = apply_freq(result, rebuild_freq(spec["freq"]))
            if with_freq is None:
                raise ValueError("the stored index does not match its stored freq")
            result = with_freq
        return result
    multi = pd.MultiIndex.from_arrays(levels, names=names)
    if any(v is not None for v in spec["level_values"]):
        multi = _with_levels(multi, spec["level_values"])
    return multi


def _with_levels(multi: pd.MultiIndex, stored: list[Any]) -> pd.MultiIndex:
    levels: list[Any] = list(multi.levels)
    codes: list[Any] = list(multi.codes)
    for i, encoded in enumerate(stored):
        if encoded is None:
            continue
        level = decode_values(encoded, levels[i].dtype)
        values = multi.get_level_values(i)
        new_codes = level.get_indexer(values)
        if int((new_codes == -1).sum()) != int(np.sum(values.isna())):
            raise ValueError(f"index level {i} holds values missing from its stored levels")
        levels[i], codes[i] = level, new_codes
    return pd.MultiIndex(levels=levels, codes=codes, names=multi.names, verify_integrity=False)


def _restore_labels(labels: pd.Index, spec: Spec) -> pd.Index:
    if spec.get("range"):
        return pd.RangeIndex(0, name=labels.name)
    if spec["dtype"] is None:
        return labels
    target = target_dtype(spec["dtype"])
    if same_dtype(labels.dtype, target):
        return labels
    restored: pd.Index = pd.Index(np.asarray(labels, dtype=object), dtype=target, name=labels.name)
    return restored


def _from_legacy(table: pa.Table, extra: dict[str, Any]) -> pd.DataFrame:
    """Files of the first codec: object columns, range-only frames, the freq as a short name."""
    df: pd.DataFrame = table.to_pandas()
    for name in extra.get("object_columns", ()):
        if df[name].dtype != object:
            df[name] = df[name].astype(object)
    if extra.get("range_index_only"):
        df = pd.DataFrame(index=_range_index(table), columns=df.columns)
    freqstr = extra.get("index_freq")
    if freqstr is not None:
        with_freq = apply_freq(df.index, pd.tseries.frequencies.to_offset(freqstr))
        if with_freq is None:
            raise ValueError(f"the stored index does not match its stored freq {freqstr!r}")
        df.index = with_freq
    return df
