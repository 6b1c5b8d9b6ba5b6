"""Reading a checkpoint's data file with its checks: size, checksums, decoding, rows, columns.

Damage is an :class:`IntegrityError`: a missing or truncated file, a checksum that does not
match, data whose rows or columns are not the manifest's. Once the checksum has matched, the
bytes are the ones written, so anything that fails afterwards is a
:class:`CheckpointDecodeError`, never reported as damage.
"""

from __future__ import annotations

import hashlib
import time
import zlib
from typing import TYPE_CHECKING, Any

from checkpointing._errors import CheckpointDecodeError, IntegrityError
from checkpointing.storage._writing import add_ms, xxh3_hex
from checkpointing.store._codec import from_table
from checkpointing.store._layout import is_data_object
from checkpointing.store._parquet import read_parquet

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from checkpointing.storage._protocol import Storage

__all__: list[str] = []


def read_verified(
    storage: Storage,
    checkpoint_id: str,
    state: dict[str, Any],
    *,
    full: bool,
    timings: dict[str, float] | None = None,
) -> tuple[pa.Table, pd.Index | None]:
    """Map the data file, check it (``full``: SHA-256 too) and read it as an Arrow table.

    Without ``full``, an index of fixed steps is generated rather than read (the table comes
    without its column, and the index second; see :mod:`checkpointing.store._regular_index`);
    with ``full``, every column is decoded and checked. The mapping is released when this
    returns, before the table is converted to pandas, so a load never holds the file and both
    decoded copies at once. ``timings`` receives the milliseconds of ``read`` (mapping the
    file), ``verify`` and ``decode`` (Parquet to Arrow).
    """
    buffer = map_verified(storage, checkpoint_id, state, full=full, timings=timings)
    started = time.perf_counter()
    try:
        read = read_parquet(buffer, generate_index=not full)
    except Exception as exc:
        raise _intact_but(exc, checkpoint_id, storage, state) from exc
    add_ms(timings, "decode", started)
    return read


def map_verified(
    storage: Storage,
    checkpoint_id: str,
    state: dict[str, Any],
    *,
    full: bool,
    timings: dict[str, float] | None = None,
) -> pa.Buffer:
    """The data file's bytes, once its size and checksum (``full``: SHA-256 too) match;
    ``timings`` receives the milliseconds of ``read`` and ``verify``."""
    started = time.perf_counter()
    buffer = _map(storage, checkpoint_id, state)
    add_ms(timings, "read", started)
    started = time.perf_counter()
    view = memoryview(buffer)
    if full and hashlib.sha256(view).hexdigest() != state.get("data_hash"):
        raise IntegrityError(checkpoint_id, _data_path(storage, state), "SHA-256 mismatch")
    # The whole-file checksum of every load: xxh3_64 (~30 GB/s), CRC-32 in old manifests.
    if "data_xxh3" in state:
        matches = xxh3_hex(view) == state["data_xxh3"]
    else:
        matches = zlib.crc32(view) == state.get("data_crc32")
    view.release()
    if not matches:
        raise IntegrityError(checkpoint_id, _data_path(storage, state), "checksum mismatch")
    add_ms(timings, "verify", started)
    return buffer


def decode_verified(
    storage: Storage,
    checkpoint_id: str,
    state: dict[str, Any],
    read: tuple[pa.Table, pd.Index | None],
) -> Any:
    """Convert a verified table (and its generated index, if any: :func:`read_verified`), then
    check its rows and columns against the manifest."""
    table, index = read
    try:
        data, columns = from_table(table, index=index)
    except Exception as exc:
        raise _intact_but(exc, checkpoint_id, storage, state) from exc
    path = _data_path(storage, state)
    if len(data) != state.get("rows"):
        raise IntegrityError(
            checkpoint_id, path, f"data has {len(data)} rows, the manifest says {state.get('rows')}"
        )
    expected = state.get("columns")
    if isinstance(expected, dict) and columns != list(expected):
        raise IntegrityError(
            checkpoint_id, path, f"data has columns {columns}, the manifest says {list(expected)}"
        )
    return data


def _intact_but(
    exc: Exception, checkpoint_id: str, storage: Storage, state: dict[str, Any]
) -> CheckpointDecodeError:
    # The checksum matched: these bytes are the ones written, so whatever fails to read or
    # convert them (a newer format, a dtype this pandas or pyarrow lacks, our own bug) is no
    # damage.
    reason = f"{type(exc).__name__}: {exc}"
    return CheckpointDecodeError(checkpoint_id, _data_path(storage, state), reason)


def _data_path(storage: Storage, state: dict[str, Any]) -> Any:
    return storage.path(str(state.get("data_file")))


def _map(storage: Storage, checkpoint_id: str, state: dict[str, Any]) -> pa.Buffer:
    """Map the data file the manifest names, after checking its name and size."""
    data_file = state.get("data_file")
    if not isinstance(data_file, str) or not is_data_object(data_file, checkpoint_id):
        raise IntegrityError(checkpoint_id, str(data_file), "manifest names another data file")
    path = storage.path(data_file)
    try:
        buffer = storage.map(data_file)
    except FileNotFoundError:
        raise IntegrityError(checkpoint_id, path, "data file is missing") from None
    if buffer.size != state.get("data_size"):
        raise IntegrityError(
            checkpoint_id,
            path,
            f"size is {buffer.size} bytes, the manifest says {state.get('data_size')}",
        )
    return buffer
