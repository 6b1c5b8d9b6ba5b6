"""``CheckpointManager``: save, load, verify, list, delete and expire checkpoints."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
import zlib
from typing import TYPE_CHECKING, Any, cast

import pyarrow as pa
import pyarrow.parquet as pq

from checkpointing._errors import CheckpointNotFoundError, IntegrityError
from checkpointing.storage._local import LocalStorage
from checkpointing.storage._names import validate_name
from checkpointing.store._catalog import Catalog
from checkpointing.store._codec import from_table, metadata_to_json, to_table
from checkpointing.store._ids import new_checkpoint_id
from checkpointing.store._manifest import (
    DATA_SUFFIX,
    MANIFEST_SUFFIX,
    build_manifest,
    check_manifest,
)
from checkpointing.store._shards import entry_from_manifest

if TYPE_CHECKING:
    import os
    from collections.abc import Iterator
    from pathlib import Path

    import pandas as pd

__all__ = ["CheckpointManager"]

logger = logging.getLogger(__name__)

_THREADED_CHECK_BYTES = 1 << 20
_CODECS = ("snappy", "zstd", "gzip", "brotli", "lz4", "none")
_DECODE_ERRORS = (pa.ArrowException, OSError, ValueError, KeyError, TypeError)


class CheckpointManager(Catalog):
    """Verified, crash-safe Parquet checkpoints of pandas DataFrames in one directory.

    Each checkpoint is ``<checkpoint_id>.parquet`` (plain Parquet) plus ``<checkpoint_id>.json``
    (its manifest, the state), indexed by a registry. Every file is written to a temporary file,
    fsync'd and renamed, and the manifest only after the data, so a checkpoint is visible only
    once complete and durable. Any number of threads and processes may share a directory; the
    registry is guarded by a file lock.

    Args:
        checkpoint_dir: The directory, created on the first write.
        compression: Parquet codec: ``"snappy"`` (default), ``"zstd"``, ``"gzip"``, ``"brotli"``,
            ``"lz4"`` or ``"none"``.
        lock_timeout: Seconds to wait for the registry lock before ``LockTimeoutError``.

    Raises:
        ValueError: ``compression`` is unknown or not available in this pyarrow.
    """

    def __init__(
        self,
        checkpoint_dir: str | os.PathLike[str] = "data/checkpoints",
        *,
        compression: str = "snappy",
        lock_timeout: float = 60.0,
    ) -> None:
        if compression not in _CODECS or (
            compression != "none" and not pa.Codec.is_available(cast("Any", compression))
        ):
            raise ValueError(
                f"unknown or unavailable Parquet compression {compression!r}; "
                f"choose one of {', '.join(_CODECS)}"
            )
        self._compression = compression
        self._init_catalog(LocalStorage(checkpoint_dir), lock_timeout=lock_timeout)

    @property
    def checkpoint_dir(self) -> Path:
        """The checkpoint directory."""
        return self._storage.root

    @property
    def storage(self) -> LocalStorage:
        """The storage layer (atomic file writes) of this directory, for run records and tools."""
        return self._storage

    # -- save --------------------------------------------------------------------------------

    def save_checkpoint(
        self,
        pipeline_id: str,
        stage: str,
        data: pd.DataFrame | pa.Table,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Save ``data`` durably as a new checkpoint and return its id.

        When this returns, the data file and the manifest are fsync'd and renamed into place and
        the registry lists the checkpoint. Nothing is written when an argument is rejected.

        Args:
            pipeline_id: Pipeline the checkpoint belongs to (see :func:`validate_name`).
            stage: Stage name (same rules).
            data: A DataFrame (round-trips exactly) or a pyarrow Table.
            metadata: JSON-convertible dict stored in the manifest (conversion rules in
                docs/checkpointing.md).

        Returns:
            ``{pipeline_id}_{stage}_{YYYYmmddTHHMMSSffffffZ}_{8 hex}``, unique across processes.

        Raises:
            InvalidNameError: A name is invalid.
            TypeError: ``data`` or ``metadata`` cannot be stored faithfully.
            LockTimeoutError: The registry lock was not acquired in time.
            OSError: The filesystem failed.

        When it raises, nothing of this checkpoint stays on disk or appears later.
        """
        checkpoint_id, when = new_checkpoint_id(pipeline_id, stage)
        table, columns = to_table(data)
        meta = metadata_to_json(metadata)
        started = time.perf_counter()
        data_file = checkpoint_id + DATA_SUFFIX
        with self._storage.atomic_writer(data_file) as out:
            pq.write_table(table, cast("Any", out), compression=cast("Any", self._compression))
        written = out.result
        assert written is not None
        manifest = build_manifest(
            checkpoint_id=checkpoint_id,
            pipeline_id=pipeline_id,
            stage=stage,
            when=when,
            data_file=data_file,
            sha256=written.sha256,
            size=written.size,
            crc32=written.crc32,
            compression=self._compression,
            rows=table.num_rows,
            columns=columns,
            metadata=meta,
        )
        try:
            self._storage.write_json_atomic(checkpoint_id + MANIFEST_SUFFIX, manifest)
            self._index(manifest)
        except BaseException:
            # A save that raises (lock timeout, full disk) leaves no checkpoint to appear later.
            for name in (checkpoint_id + MANIFEST_SUFFIX, data_file):
                with contextlib.suppress(OSError):
                    self._storage.remove(name)
            raise
        logger.info(
            "saved checkpoint %s (%d rows, %d bytes) in %.1f ms",
            checkpoint_id,
            table.num_rows,
            written.size,
            (time.perf_counter() - started) * 1e3,
        )
        return checkpoint_id

    # -- read --------------------------------------------------------------------------------

    def get_state(self, checkpoint_id: str) -> dict[str, Any]:
        """The manifest (state) of a checkpoint, without reading its data.

        Raises:
            CheckpointNotFoundError: No such checkpoint.
            InvalidNameError: ``checkpoint_id`` cannot be a checkpoint id.
            IntegrityError: The manifest is unreadable or a field it needs has the wrong type.
        """
        validate_name(checkpoint_id, what="checkpoint_id")
        name = checkpoint_id + MANIFEST_SUFFIX
        try:
            state = self._storage.read_json(name)
        except FileNotFoundError:
            raise CheckpointNotFoundError(checkpoint_id) from None
        except ValueError as exc:
            raise IntegrityError(
                checkpoint_id, self._storage.path(name), "manifest is not valid JSON"
            ) from exc
        return check_manifest(state, checkpoint_id, self._storage.path(name))

    def load_checkpoint(self, checkpoint_id: str) -> dict[str, Any]:
        """Load a checkpoint, verifying its size and whole-file checksum on the way.

        Returns:
            ``{"data": DataFrame, "state": manifest dict}``.

        Raises:
            CheckpointNotFoundError: No such checkpoint.
            IntegrityError: The data file is missing, truncated, altered or unreadable; wrong
                data is never returned.
        """
        state = self.get_state(checkpoint_id)
        with self._reading(checkpoint_id, state) as buffer:
            crc: list[int] = []
            checker = threading.Thread(target=lambda: crc.append(zlib.crc32(memoryview(buffer))))
            # Big files: checksum on a thread while pyarrow decodes the same mapped bytes.
            threaded = buffer.size >= _THREADED_CHECK_BYTES
            if threaded:
                checker.start()
            else:
                checker.run()
            try:
                table = pq.read_table(pa.BufferReader(buffer))
                data = from_table(table)
            finally:
                if threaded:
                    checker.join()
            if crc[0] != state.get("data_crc32"):
                raise IntegrityError(checkpoint_id, self._data_path(state), "checksum mismatch")
        return {"data": data, "state": state}

    def verify_checkpoint(self, checkpoint_id: str) -> dict[str, Any]:
        """Check a checkpoint in full: SHA-256 of the data file, checksum, size and decoding.

        Returns:
            The state (manifest) of the checkpoint.

        Raises:
            CheckpointNotFoundError: No such checkpoint.
            IntegrityError: Anything does not match or cannot be read.
        """
        state = self.get_state(checkpoint_id)
        with self._reading(checkpoint_id, state) as buffer:
            view = memoryview(buffer)
            if hashlib.sha256(view).hexdigest() != state.get("data_hash"):
                raise IntegrityError(checkpoint_id, self._data_path(state), "SHA-256 mismatch")
            if zlib.crc32(view) != state.get("data_crc32"):
                raise IntegrityError(checkpoint_id, self._data_path(state), "checksum mismatch")
            from_table(pq.read_table(pa.BufferReader(buffer)))
        return state

    def _data_path(self, state: dict[str, Any]) -> Path:
        return self._storage.path(str(state.get("data_file")))

    @contextlib.contextmanager
    def _reading(self, checkpoint_id: str, state: dict[str, Any]) -> Iterator[pa.Buffer]:
        """Map the data file; translate every read/decode failure into IntegrityError."""
        data_file = state.get("data_file")
        if data_file != checkpoint_id + DATA_SUFFIX:
            raise IntegrityError(checkpoint_id, str(data_file), "manifest names another data file")
        path = self._storage.path(data_file)
        try:
            buffer = self._storage.map(data_file)
        except FileNotFoundError:
            raise IntegrityError(checkpoint_id, path, "data file is missing") from None
        if buffer.size != state.get("data_size"):
            raise IntegrityError(
                checkpoint_id,
                path,
                f"size is {buffer.size} bytes, the manifest says {state.get('data_size')}",
            )
        try:
            yield buffer
        except _DECODE_ERRORS as exc:
            if isinstance(exc, IntegrityError):
                raise
            raise IntegrityError(checkpoint_id, path, f"unreadable Parquet: {exc}") from exc

    def _index(self, manifest: dict[str, Any]) -> None:
        """Add a written manifest to the registry, unless it was deleted meanwhile."""
        name = manifest["checkpoint_id"] + MANIFEST_SUFFIX
        # Checked under the lock: a concurrent delete never leaves an entry behind.
        self._registry.add(
            entry_from_manifest(manifest), present=lambda: self._storage.exists(name)
        )
