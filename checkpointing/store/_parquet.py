"""How a checkpoint's table is written as Parquet, and read back.

The file is plain Parquet with pyarrow's defaults except for two choices made per column on a
large table, each judged on a cheap sample, each meant to make the file faster to write and to
read without making it bigger:

* **Dictionary encoding** only where a sample of :data:`_SAMPLE` evenly spaced values holds at
  most :data:`_DICTIONARY_SHARE` distinct ones (about 80,000 distinct values or fewer in the
  column). Beyond that Parquet's attempt at a dictionary costs time, then falls back to plain.
* **Compression** only where the codec shrinks the column: a column of fixed-width values
  (numbers, times) whose sampled runs do not compress to :data:`_WORTH` of their size or less
  (random floats, which snappy makes slightly bigger) is stored uncompressed, which also makes
  it quicker to write and to read.

Tables of at most :data:`SMALL` rows keep pyarrow's defaults (a dictionary for every column,
the codec on every column): too small for the choices to matter, and the probes would cost
more than they save.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from checkpointing.store._codec import META_KEY
from checkpointing.store._regular_index import regular_index

if TYPE_CHECKING:
    import pandas as pd

__all__: list[str] = []

SMALL = 4_096
_SAMPLE = 16_384
_DICTIONARY_SHARE = 0.9
_RUNS = 4  # runs of consecutive values compressed to judge a column (a codec sees neighbours)
_RUN_BYTES = 16_384
_WORTH = 0.98  # compress a column when its sample shrinks to this share of its size or less


def write_parquet(table: pa.Table, out: Any, *, compression: str, level: int | None = None) -> None:
    """Write ``table`` as Parquet to the file object ``out``.

    ``compression`` is the codec's name and ``level`` its level (``None``: the codec's default);
    see the module's description for the columns each applies to.
    """
    if table.num_rows <= SMALL:  # encoded in memory and written at once: pyarrow would call
        sink = pa.BufferOutputStream()  # out.write a score of times for a few kilobytes
        pq.write_table(table, sink, compression=compression, compression_level=level)
        out.write(sink.getvalue())
        return
    dictionary = dictionary_columns(table)
    codecs = column_compression(table, compression, level, keep=dictionary)
    levels: int | dict[str, int] | None = level
    if isinstance(codecs, dict) and level is not None:
        # pyarrow refuses a level for an uncompressed column: the others get it by name.
        levels = {name: level for name, codec in codecs.items() if codec != "NONE"}
    pq.write_table(
        table,
        out,
        compression=codecs,
        compression_level=levels,
        use_dictionary=dictionary,
    )


def dictionary_columns(table: pa.Table) -> list[str]:
    """The flat columns of ``table`` worth dictionary-encoding, judged on a cheap sample."""
    rows = table.num_rows
    sample = None if rows <= _SAMPLE else np.linspace(0, rows - 1, _SAMPLE).astype(np.int64)
    chosen = []
    for field, column in zip(table.schema, table.columns, strict=True):
        kind = field.type
        if pa.types.is_dictionary(kind):
            chosen.append(field.name)  # categoricals: their dictionary holds the categories
        elif not (pa.types.is_nested(kind) or pa.types.is_boolean(kind) or pa.types.is_null(kind)):
            values = column if sample is None else column.take(sample)
            try:
                distinct = pc.count_distinct(values).as_py()
            except pa.ArrowNotImplementedError:  # extension types (period, interval): plain
                continue
            if distinct <= _DICTIONARY_SHARE * (len(values) - values.null_count):
                chosen.append(field.name)
    return chosen


def column_compression(
    table: pa.Table, compression: str, level: int | None, *, keep: list[str]
) -> str | dict[str, str]:
    """``compression`` for every column, or ``{column: codec}`` leaving out (``"NONE"``) the
    fixed-width columns the codec does not shrink. Columns in ``keep`` (dictionary-encoded ones)
    keep the codec.

    Per-column codecs are given only when every column is flat and its name holds no ``.``
    (pyarrow reads the names as dotted column paths); otherwise every column gets the codec.
    """
    names = table.column_names
    if (
        compression.lower() == "none"
        or any(pa.types.is_nested(field.type) for field in table.schema)
        or any("." in name for name in names)
    ):
        return compression
    codec = pa.Codec(compression, compression_level=level)
    chosen = {
        name: compression if name in keep or _shrinks(column, codec) else "NONE"
        for name, column in zip(names, table.columns, strict=True)
    }
    return chosen if "NONE" in chosen.values() else compression


def _shrinks(column: pa.ChunkedArray, codec: pa.Codec) -> bool:
    """Whether ``codec`` shrinks runs of ``column``'s values (True unless they are fixed-width)."""
    kind = column.type
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_temporal(kind)):
        return True
    width = kind.bit_width // 8
    run = max(1, _RUN_BYTES // width)
    if len(column) < run * _RUNS:
        return True
    raw = packed = 0
    for start in np.linspace(0, len(column) - run, _RUNS).astype(np.int64).tolist():
        values = column.slice(start, run).combine_chunks()
        data = values.buffers()[1]
        assert data is not None
        view = data[values.offset * width : (values.offset + run) * width]
        raw += view.size
        packed += codec.compress(view).size
    return packed <= _WORTH * raw


def read_parquet(
    buffer: pa.Buffer, *, generate_index: bool = False
) -> tuple[pa.Table, pd.Index | None]:
    """Read a Parquet file written by :func:`write_parquet` (decode it with ``from_table``).

    Object string columns stored with a dictionary are read as one, so each distinct string
    becomes a Python object once, not once per row. The table holds no reference to
    ``buffer``'s memory once read, so the caller can release it before converting.

    Returns:
        The table, and None; or, with ``generate_index`` and an index of fixed steps (see
        :mod:`checkpointing.store._regular_index`), the table without its index column and the
        index generated from the column's first value.
    """
    parquet = pq.ParquetFile(pa.BufferReader(buffer))
    raw = (parquet.schema_arrow.metadata or {}).get(META_KEY)
    specs = json.loads(raw).get("columns", {}) if raw is not None else {}
    objects = {name for name, spec in specs.items() if spec.get("kind") == "object"}
    if objects and parquet.metadata.num_row_groups:
        group = parquet.metadata.row_group(0)
        chunks = (group.column(i) for i in range(group.num_columns))
        encoded = [c.path_in_schema for c in chunks if c.has_dictionary_page]
        if any(name in objects for name in encoded):
            parquet = pq.ParquetFile(
                pa.BufferReader(buffer),
                metadata=parquet.metadata,
                read_dictionary=[name for name in encoded if name in objects],
            )
    regular = regular_index(parquet) if generate_index else None
    if regular is None:
        return parquet.read(), None
    field, index = regular
    return parquet.read(columns=[n for n in parquet.schema_arrow.names if n != field]), index
