"""A quick conversion of small, plain DataFrames to Arrow, identical to ``Table.from_pandas``.

Most of the time of ``pa.Table.from_pandas`` on a small frame goes to its generic per-column
work in Python (inspecting each column's values and building the pandas metadata), not to
converting values. For a frame of at most :data:`SMALL_ROWS` rows whose columns and index hold
numbers, bools or dates (numpy dtypes, or ``datetime64`` with a time zone), this module builds
the same table directly: each column with the very call pyarrow makes (``pa.array(values,
from_pandas=True)``), and the pandas metadata from templates that pyarrow itself produced once
per dtype, on a probe frame with no rows. Anything else (object or extension columns, a
MultiIndex, an index named like a column, ``attrs``) is left to pyarrow.

The result is the same table, metadata bytes included, as ``pa.Table.from_pandas`` gives; the
tests compare the two on every kind of frame taken here, with the installed pandas and pyarrow.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

__all__: list[str] = []

SMALL_ROWS = 4_096  # beyond this, value conversion dominates and pyarrow may use threads
_PLAIN_KINDS = "biufmM"


def plain_table(data: pd.DataFrame, columns: list[tuple[str, pd.Series]]) -> pa.Table | None:
    """``pa.Table.from_pandas(data)``, built directly; None when ``data`` is not plain.

    ``columns`` is ``list(data.items())``, already taken by the caller (the labels are
    checked to be unique strings, none named like Parquet's index fields).
    """
    index = data.index
    labels = data.columns
    if (
        len(data) > SMALL_ROWS
        or not columns
        or data.attrs
        or isinstance(index, pd.MultiIndex)
        or isinstance(labels, pd.MultiIndex)
        or not _plain(index.dtype)
        or (index.name is not None and index.name in labels)
    ):
        return None
    if not all(_plain(series.dtype) for _, series in columns):
        return None
    arrays = [_to_arrow(series) for _, series in columns]
    names = [name for name, _ in columns]
    entries = [
        _entry(name, name, series.dtype, array)
        for (name, series), array in zip(columns, arrays, strict=True)
    ]
    if isinstance(index, pd.RangeIndex):
        index_columns: list[Any] = [
            {
                "kind": "range",
                "name": index.name,
                "start": index.start,
                "stop": index.stop,
                "step": index.step,
            }
        ]
    else:
        name = None if index.name is None else str(index.name)
        field = "__index_level_0__" if name is None else name
        array = pa.array(index, from_pandas=True)
        arrays.append(array)
        names.append(field)
        entries.append(_entry(name, field, index.dtype, array))
        index_columns = [field]
    meta = dict(_frame_template(labels.dtype, labels.name))
    meta["index_columns"] = index_columns
    meta["columns"] = entries
    pandas_meta = json.dumps(meta).encode("utf8")
    return pa.Table.from_arrays(arrays, names=names, metadata={b"pandas": pandas_meta})


def _plain(dtype: Any) -> bool:
    if isinstance(dtype, np.dtype):
        return dtype.kind in _PLAIN_KINDS
    return isinstance(dtype, pd.DatetimeTZDtype)


def _to_arrow(series: pd.Series) -> pa.Array:
    if isinstance(series.dtype, np.dtype):  # the ndarray pyarrow would take out of the Series
        return pa.array(series.to_numpy(), from_pandas=True)
    return pa.array(series, from_pandas=True)


def _entry(name: str | None, field: str, dtype: Any, array: pa.Array) -> dict[str, Any]:
    name_of_tz = None if isinstance(dtype, np.dtype) else str(dtype)
    pandas_type, numpy_type, metadata = _column_template(dtype, name_of_tz, array.type)
    return {
        "name": name,
        "field_name": field,
        "pandas_type": pandas_type,
        "numpy_type": numpy_type,
        "metadata": metadata,
    }


@functools.cache
def _column_template(
    dtype: Any, name_of_tz: str | None, arrow_type: pa.DataType
) -> tuple[str, str, Any]:
    """pyarrow's ``pandas_type``, ``numpy_type`` and ``metadata`` of a column of ``dtype``.

    Cached by the dtype, with its name when it has a time zone (equal zones of different
    classes), and by the Arrow type the values converted to.
    """
    probe = pa.Table.from_pandas(
        pd.DataFrame({"c": pd.Series([], dtype=dtype)}), preserve_index=False
    )
    if probe.schema.field("c").type != arrow_type:
        raise ValueError(f"a column of dtype {dtype} did not convert to {arrow_type}")
    entry = json.loads(probe.schema.metadata[b"pandas"])["columns"][0]
    return entry["pandas_type"], entry["numpy_type"], entry["metadata"]


@functools.cache
def _frame_template(labels_dtype: Any, labels_name: str | None) -> dict[str, Any]:
    """pyarrow's pandas metadata of a frame with these column labels (no rows, no index)."""
    probe = pd.DataFrame({"c": np.zeros(0)})
    probe.columns = pd.Index(["c"], dtype=labels_dtype, name=labels_name)
    meta: dict[str, Any] = json.loads(pa.Table.from_pandas(probe).schema.metadata[b"pandas"])
    return meta
