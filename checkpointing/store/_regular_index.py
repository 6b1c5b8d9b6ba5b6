"""A fixed-step index, generated on load from its first value instead of decoded.

A DatetimeIndex or TimedeltaIndex whose ``freq`` is a fixed step (hours, minutes, seconds and
smaller; not days, which follow the local calendar) holds ``first + i * step`` and nothing
else: the save checks exactly that before it writes (see :mod:`checkpointing.store._offsets`),
and a load reads nothing before the file's checksum has matched, so the bytes are the ones
that were checked. A load therefore reads the index column's first value only and generates
the index, instead of decoding the whole column and comparing it with a generated one: for a
1M-row frame, an 8 MB column neither decoded nor converted. ``verify_checkpoint`` and
compaction still decode the column and compare. Any other index is decoded as usual.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa

from checkpointing.store._codec import CODEC, META_KEY
from checkpointing.store._dtypes import same_dtype, target_dtype
from checkpointing.store._offsets import fixed_step, rebuild_freq

if TYPE_CHECKING:
    import pyarrow.parquet as pq

__all__: list[str] = []


@dataclass(frozen=True)
class _Index:
    """What the file says of its index: its column, Arrow type, freq, dtype and name."""

    field: str
    kind: pa.DataType  # as stored: its unit may be finer than the index's ([s] is kept in [ms])
    freq: Any
    dtype: Any
    unit: str  # the index's
    name: str | None


def regular_index(parquet: pq.ParquetFile) -> tuple[str, pd.Index] | None:
    """The field holding the file's index and the index generated from its first value, when
    the index is one of fixed steps; None when it has to be decoded."""
    found = _fixed_step_index(parquet)
    if found is None:
        return None
    first = next(parquet.iter_batches(batch_size=1, columns=[found.field])).column(0)[0]
    if not first.is_valid:
        return None
    try:
        index = _generate(first.value, found, parquet.metadata.num_rows)
    except (ValueError, OverflowError):  # out of pandas' range: decoded and checked instead
        return None
    return (found.field, index) if same_dtype(index.dtype, found.dtype) else None


def _fixed_step_index(parquet: pq.ParquetFile) -> _Index | None:
    """The file's index, when its description says it is one of fixed steps."""
    schema = parquet.schema_arrow
    metadata = schema.metadata or {}
    ours, theirs = metadata.get(META_KEY), metadata.get(b"pandas")
    if ours is None or theirs is None or not parquet.metadata.num_rows:
        return None
    extra, pandas_meta = json.loads(ours), json.loads(theirs)
    spec = extra.get("index")
    fields = pandas_meta.get("index_columns", [])
    if (
        extra.get("codec") != CODEC
        or not spec
        or spec["multi"]
        or spec.get("freq") is None
        or spec["levels"][0] is None
        or len(fields) != 1
        or not isinstance(fields[0], str)
        or len(schema.names) < 2  # no other column to read
    ):
        return None
    field = fields[0]
    kind = schema.field(field).type
    if not (pa.types.is_timestamp(kind) or pa.types.is_duration(kind)):
        return None
    freq, dtype = rebuild_freq(spec["freq"]), target_dtype(spec["levels"][0])
    unit = dtype.unit if isinstance(dtype, pd.DatetimeTZDtype) else np.datetime_data(dtype)[0]
    if fixed_step(freq, unit) is None:
        return None
    name = next(c["name"] for c in pandas_meta["columns"] if c["field_name"] == field)
    return _Index(field, kind, freq, dtype, unit, name)


def _generate(first: int, index: _Index, rows: int) -> pd.Index:
    stored, unit = index.kind.unit, cast("Any", index.unit)  # one of pandas' four units
    if pa.types.is_duration(index.kind):
        start = pd.Timedelta(first, unit=stored)
        deltas: pd.Index = pd.timedelta_range(
            start=start, periods=rows, freq=index.freq, unit=unit, name=index.name
        )
        return deltas
    tz = getattr(index.dtype, "tz", None)  # a fixed step is absolute time: generated in UTC
    stamp = pd.Timestamp(first, unit=stored, tz=None if tz is None else "UTC")
    stamps = pd.date_range(start=stamp, periods=rows, freq=index.freq, unit=unit, name=index.name)
    return stamps if tz is None else stamps.tz_convert(tz)
