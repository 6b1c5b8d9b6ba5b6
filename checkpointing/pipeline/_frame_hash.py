"""Schema and content hashes of frames, stable across processes and runs, and fast.

A frame is described by two SHA-256 digests: its **schema** (column labels in order, dtypes
including categories, string storage and time zones, index type, names, dtypes and ``freq``) and
its **content** (every value, the index's values and ``attrs``). Values are hashed from their
memory buffers (numpy arrays, Arrow buffers) column by column on two threads, so equal frames
hash equally however their blocks are laid out, and a 1M-row frame costs tens of milliseconds.
``hash_pandas_object`` is not used: it ignores column names and dtypes.

Frames that came from a checkpoint are represented by the checkpoint's stored SHA-256 instead,
which costs nothing: see :mod:`checkpointing.pipeline._origins`.
"""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from checkpointing.pipeline._canonical import canonical, digest, type_name

if TYPE_CHECKING:
    from collections.abc import Callable

__all__: list[str] = []

_PARALLEL_BYTES = 1 << 22  # frames above ~4 MB hash their columns on two threads
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _forget_pool() -> None:
    """In a forked child the parent's threads are gone: start a new pool when needed."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool)


def schema_digest(data: pd.DataFrame | pd.Series | pd.Index | pa.Table) -> str:
    """SHA-256 of what the data's values mean: labels, dtypes, index layout."""
    if isinstance(data, pa.Table):
        text = data.schema.to_string(show_field_metadata=True, show_schema_metadata=True)
        return digest(["table", text])
    if isinstance(data, pd.Series):
        return digest(
            ["series", canonical(data.name), dtype_tree(data.dtype), _index_schema(data.index)]
        )
    if isinstance(data, pd.Index):
        return digest(["index", _index_schema(data)])
    columns = [
        [canonical(label), dtype_tree(dtype)]
        for label, dtype in zip(data.columns, data.dtypes, strict=True)
    ]
    return digest(["frame", columns, _index_schema(data.columns), _index_schema(data.index)])


def content_digest(data: pd.DataFrame | pd.Series | pd.Index | pa.Table) -> str:
    """SHA-256 of every value of the data (and its index and ``attrs``), in order.

    Raises:
        NotCanonical: An object column holds a value that has no canonical form.
    """
    jobs: list[Callable[[], bytes]] = []
    if isinstance(data, pa.Table):
        jobs = [lambda c=column: _arrow_digest(c) for column in data.columns]  # type: ignore[misc]
        rows = data.num_rows
    elif isinstance(data, pd.Index):
        jobs = _index_jobs(data)
        rows = len(data)
    elif isinstance(data, pd.Series):
        jobs = [lambda: _array_digest(data.array), *_index_jobs(data.index)]
        rows = len(data)
    else:
        arrays = [data.iloc[:, i].array for i in range(data.shape[1])]
        jobs = [lambda a=a: _array_digest(a) for a in arrays]  # type: ignore[misc]
        jobs += _index_jobs(data.index)
        rows = len(data)
    parts = _run(jobs, rows * max(len(jobs), 1) * 8)
    final = hashlib.sha256(f"rows={rows};parts={len(parts)};".encode())
    for part in parts:
        final.update(part)
    attrs = getattr(data, "attrs", None)
    if attrs:
        final.update(digest(canonical(attrs, "attrs")).encode())
    return final.hexdigest()


def dtype_tree(dtype: Any) -> Any:
    """A JSON description of a dtype precise enough that two different dtypes never match."""
    if isinstance(dtype, pd.CategoricalDtype):
        categories = dtype.categories
        return [
            "category",
            bool(dtype.ordered),
            dtype_tree(categories.dtype),
            content_digest(categories),
        ]
    if isinstance(dtype, pd.StringDtype):
        return ["string", dtype.storage, repr(dtype.na_value)]
    return [type(dtype).__name__, str(dtype)]


def _index_schema(index: pd.Index) -> Any:
    tree: list[Any] = [type(index).__name__, canonical(list(index.names), "index names")]
    if isinstance(index, pd.MultiIndex):
        tree.append([dtype_tree(level.dtype) for level in index.levels])
    else:
        tree.append(dtype_tree(index.dtype))
    freq = getattr(index, "freq", None)
    if freq is not None:
        tree.append(
            [
                "freq",
                repr(freq),
                str(getattr(freq, "holidays", "")),
                str(getattr(freq, "weekmask", "")),
            ]
        )
    return tree


def _index_jobs(index: pd.Index) -> list[Callable[[], bytes]]:
    if isinstance(index, pd.RangeIndex):
        triple = f"range:{index.start}:{index.stop}:{index.step}".encode()
        return [lambda: hashlib.sha256(triple).digest()]
    if isinstance(index, pd.MultiIndex):
        levels = [index.get_level_values(i).array for i in range(index.nlevels)]
        return [lambda a=a: _array_digest(a) for a in levels]  # type: ignore[misc]
    return [lambda: _array_digest(index.array)]


def _run(jobs: list[Callable[[], bytes]], size: int) -> list[bytes]:
    """Run the hashing jobs, on two threads when there is enough to hash (SHA-256 frees the GIL)."""
    global _pool  # noqa: PLW0603 - one small pool per process, created on first use
    if size < _PARALLEL_BYTES or len(jobs) < 2:
        return [job() for job in jobs]
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="stagepoint-hash")
        pool = _pool
    return list(pool.map(lambda job: job(), jobs))


# -- one array ---------------------------------------------------------------------------------


def _array_digest(array: Any) -> bytes:  # noqa: PLR0911 - one branch per array type
    """SHA-256 of the values of a pandas array (what ``series.array`` returns)."""
    values: Any
    typed: Any = array  # the stubs narrow these classes too far for their attributes
    kind: Any = type(array)
    if issubclass(kind, pd.Categorical):
        return _buffer_digest(b"codes", np.asarray(typed.codes))
    if isinstance(
        array, pd.arrays.DatetimeArray | pd.arrays.TimedeltaArray | pd.arrays.PeriodArray
    ):
        return _buffer_digest(b"i8", np.asarray(typed.asi8))
    if issubclass(kind, pd.arrays.IntervalArray):
        return hashlib.sha256(
            _array_digest(typed.left.array) + _array_digest(typed.right.array)
        ).digest()
    if issubclass(kind, pd.arrays.SparseArray):
        return _array_digest(pd.array(typed.to_dense()))
    if issubclass(kind, pd.arrays.IntegerArray | pd.arrays.FloatingArray | pd.arrays.BooleanArray):
        mask = np.asarray(typed.isna(), dtype=bool)
        zero = False if issubclass(kind, pd.arrays.BooleanArray) else 0
        values = typed.to_numpy(dtype=typed.dtype.numpy_dtype, na_value=zero)
        return hashlib.sha256(_buffer_digest(b"values", values) + _positions(mask, 0)).digest()
    if issubclass(kind, pd.arrays.NumpyExtensionArray):
        values = typed.to_numpy()
        if values.dtype.hasobject:
            return _object_digest(values)
        return _buffer_digest(b"numpy", values)
    if hasattr(typed, "__arrow_array__"):
        return _arrow_digest(pa.chunked_array(typed.__arrow_array__()))
    return _object_digest(np.asarray(array, dtype=object))


def _buffer_digest(tag: bytes, values: np.ndarray[Any, Any]) -> bytes:
    data = np.ascontiguousarray(values)
    h = hashlib.sha256(tag + f":{data.dtype.str}:{data.size};".encode())
    h.update(_raw(data.reshape(-1).view(np.uint8)))
    return h.digest()


def _raw(values: np.ndarray[Any, Any]) -> memoryview:
    """The bytes of a contiguous array, without a copy."""
    return memoryview(cast("Any", values))


def _positions(missing: np.ndarray[Any, Any], base: int) -> bytes:
    """A digest of where the missing values are (empty when there are none)."""
    where = np.flatnonzero(missing)
    if not len(where):
        return b""
    return hashlib.sha256(_raw((where + base).astype(np.int64).view(np.uint8))).digest()


def _object_digest(values: np.ndarray[Any, Any]) -> bytes:
    """Object columns: strings through Arrow, any other value through its canonical form."""
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind in ("string", "bytes", "empty"):
        arrow = pa.array(
            values,
            type=pa.large_binary() if kind == "bytes" else pa.large_string(),
            from_pandas=True,
        )
        h = hashlib.sha256(b"object-" + kind.encode() + _arrow_digest(pa.chunked_array([arrow])))
        if arrow.null_count:  # None, NaN, NaT and NA are all null in Arrow: keep which it was
            missing = values[np.asarray(arrow.is_null())]
            h.update("\0".join(type_name(v) for v in missing).encode())
        return h.digest()
    h = hashlib.sha256(b"object-values;")
    for i, value in enumerate(values):
        h.update(digest(canonical(value, f"[{i}]")).encode())
    return h.digest()


def _arrow_digest(column: pa.ChunkedArray) -> bytes:
    """SHA-256 of an Arrow column's values, independent of how it is chunked or sliced."""
    kind = column.type
    if (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
    ):
        return _arrow_binary_digest(column)
    if pa.types.is_boolean(kind):
        values = pc.fill_null(column, False).to_numpy()
        return hashlib.sha256(_buffer_digest(b"bool", values) + _arrow_nulls(column)).digest()
    if _fixed_width(kind):
        return _arrow_fixed_digest(column, kind.bit_width // 8)
    h = hashlib.sha256(f"arrow-values:{kind};".encode())
    for i, value in enumerate(column.to_pylist()):
        h.update(digest(canonical(value, f"[{i}]")).encode())
    return h.digest()


def _fixed_width(kind: pa.DataType) -> bool:
    try:
        width = kind.bit_width
    except ValueError:
        return False
    return bool(width and width % 8 == 0) and not pa.types.is_dictionary(kind)


def _arrow_nulls(column: pa.ChunkedArray) -> bytes:
    if not column.null_count:
        return b""
    return _positions(np.asarray(column.is_null().to_numpy(zero_copy_only=False)), 0)


def _arrow_fixed_digest(column: pa.ChunkedArray, width: int) -> bytes:
    h = hashlib.sha256(f"arrow-fixed:{column.type}:{len(column)};".encode())
    for chunk in column.chunks:
        data = np.frombuffer(chunk.buffers()[1], dtype=np.uint8)
        values = data[chunk.offset * width : (chunk.offset + len(chunk)) * width]
        if chunk.null_count:  # a null slot's bytes are whatever was there: zero them
            values = values.reshape(len(chunk), width).copy()
            values[np.asarray(chunk.is_null().to_numpy(zero_copy_only=False))] = 0
        h.update(_raw(np.ascontiguousarray(values)))
    return h.digest() + _arrow_nulls(column)


def _arrow_binary_digest(column: pa.ChunkedArray) -> bytes:
    large = pa.types.is_large_string(column.type) or pa.types.is_large_binary(column.type)
    offset_type = np.int64 if large else np.int32
    lengths = hashlib.sha256(b"lengths;")
    data = hashlib.sha256(b"bytes;")
    empty = "" if pa.types.is_string(column.type) or pa.types.is_large_string(column.type) else b""
    for chunk in column.chunks:
        if chunk.null_count:
            chunk = pc.fill_null(chunk, empty)  # noqa: PLW2901 - a null's bytes are not data
        buffers = chunk.buffers()
        offsets = np.frombuffer(buffers[1], dtype=offset_type)[
            chunk.offset : chunk.offset + len(chunk) + 1
        ]
        if not len(offsets):
            continue
        lengths.update(_raw(np.diff(offsets).astype(np.int64).view(np.uint8)))
        if buffers[2] is not None and offsets[-1] > offsets[0]:
            data.update(memoryview(buffers[2])[int(offsets[0]) : int(offsets[-1])])
    return lengths.digest() + data.digest() + _arrow_nulls(column)
