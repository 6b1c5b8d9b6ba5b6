"""``CheckpointManager``: save, load, verify, list, delete and expire checkpoints."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from checkpointing._errors import (
    CheckpointNotFoundError,
    IntegrityError,
    StorageError,
)
from checkpointing.storage._names import validate_name
from checkpointing.storage._open import open_storage
from checkpointing.store._catalog import Catalog
from checkpointing.store._codec import to_table
from checkpointing.store._compact import CompactionResult, check_codec, compact_checkpoints
from checkpointing.store._ids import new_checkpoint_id
from checkpointing.store._jsonvalues import metadata_to_json
from checkpointing.store._manifest import (
    DATA_SUFFIX,
    MANIFEST_SUFFIX,
    build_manifest,
    check_manifest,
)
from checkpointing.store._parquet import write_parquet
from checkpointing.store._shards import entry_from_manifest
from checkpointing.store._verify import decode_verified, read_verified

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Mapping
    from datetime import timedelta
    from pathlib import Path

    import pandas as pd
    import pyarrow as pa

    from checkpointing.storage._protocol import Storage

__all__ = ["CheckpointManager"]

logger = logging.getLogger(__name__)


class CheckpointManager(Catalog):
    """Verified, crash-safe Parquet checkpoints of pandas DataFrames in a directory or bucket.

    Each checkpoint is ``<checkpoint_id>.parquet`` (plain Parquet) plus ``<checkpoint_id>.json``
    (its manifest, the state), indexed by a registry. In a directory, every file is written to a
    temporary file, fsync'd and renamed, and the manifest only after the data, so a checkpoint is
    visible only once complete and durable; any number of threads and processes may share it,
    and the registry is guarded by a file lock. On an object store (``s3://``, ``gs://``,
    ``az://``), the data object is uploaded first and the checkpoint is committed by creating its
    manifest with If-None-Match; the registry is the listing of the manifests
    (docs/object-storage.md).

    Args:
        checkpoint_dir: The directory (created on the first write) or an object store URL such
            as ``s3://bucket/prefix`` (needs ``pip install 'stagepoint[s3]'``).
        compression: Parquet codec: ``"snappy"`` (default), ``"zstd"``, ``"gzip"``, ``"brotli"``,
            ``"lz4"`` or ``"none"``.
        lock_timeout: Seconds to wait for the registry lock before ``LockTimeoutError``.
        storage_options: Object stores only: obstore's configuration (credentials, endpoint,
            region...), over the standard environment variables; and ``lease_seconds``, the
            time to live of a run's claim (default 60).
        unsafe_single_writer: Object stores only: accept a store that does not honour
            conditional writes; safe only if one process ever writes to it.

    Raises:
        ValueError: ``compression`` is unknown or not available in this pyarrow, or
            ``storage_options`` were given for a directory.
        StorageError: An object store URL without the ``s3`` extra installed, or one that
            cannot be opened.
    """

    def __init__(
        self,
        checkpoint_dir: str | os.PathLike[str] = "data/checkpoints",
        *,
        compression: str = "snappy",
        lock_timeout: float = 60.0,
        storage_options: Mapping[str, Any] | None = None,
        unsafe_single_writer: bool = False,
    ) -> None:
        check_codec(compression, None)
        self._compression = compression
        storage = open_storage(
            checkpoint_dir,
            storage_options=storage_options,
            unsafe_single_writer=unsafe_single_writer,
        )
        self._init_catalog(storage, lock_timeout=lock_timeout)

    @property
    def checkpoint_dir(self) -> Path:
        """The checkpoint directory.

        Raises:
            StorageError: The store is on an object store (its URL is :attr:`location`).
        """
        root: Path | None = getattr(self._storage, "root", None)
        if root is None:
            raise StorageError(
                self._storage.location, "an object store has no directory; use .location"
            )
        return root

    @property
    def location(self) -> str:
        """Where the store lives: the directory or URL, as a string (for messages and events)."""
        return self._storage.location

    @property
    def storage(self) -> Storage:
        """The storage layer (atomic writes) of this store, for run records and tools."""
        return self._storage

    # -- save --------------------------------------------------------------------------------

    def save_checkpoint(
        self,
        pipeline_id: str,
        stage: str,
        data: pd.DataFrame | pa.Table,
        metadata: dict[str, Any] | None = None,
        *,
        fingerprint: dict[str, Any] | None = None,
        timings: dict[str, float] | None = None,
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
            fingerprint: The stage fingerprint the data was computed under, stored as the
                manifest's ``fingerprint`` field (strict JSON; see docs/caching.md).
            timings: A dict that receives the milliseconds of each phase of the save:
                ``convert`` (frame to Arrow, dtype description), ``encode`` (Parquet), the
                storage's own phases (locally ``write``, ``hash``, ``fsync``, ``rename``),
                ``manifest`` and ``registry``; see docs/operations.md.

        Returns:
            ``{pipeline_id}_{stage}_{YYYYmmddTHHMMSSffffffZ}_{8 hex}``, unique across processes.

        Raises:
            InvalidNameError: A name is invalid.
            TypeError: ``data`` or ``metadata`` cannot be stored faithfully.
            LockTimeoutError: The registry lock was not acquired in time.
            OSError: The filesystem failed.

        When it raises, nothing of this checkpoint stays on disk or appears later.
        """
        started = time.perf_counter()
        phases: dict[str, float] = {}
        checkpoint_id, when = new_checkpoint_id(pipeline_id, stage)
        table, columns = to_table(data)
        meta = metadata_to_json(metadata)
        if fingerprint is not None:
            fingerprint = metadata_to_json(fingerprint)
        _phase(phases, "convert", started)
        data_file = checkpoint_id + DATA_SUFFIX
        with self._storage.staged_writer(data_file, timings=phases) as out:
            write_parquet(table, out, compression=self._compression)
        _phase(phases, "encode", started)
        written, data_staged = out.result, out.staged
        assert written is not None and data_staged is not None
        manifest = build_manifest(
            checkpoint_id=checkpoint_id,
            pipeline_id=pipeline_id,
            stage=stage,
            when=when,
            data_file=data_file,
            sha256=written.sha256,
            size=written.size,
            xxh3=written.xxh3,
            compression=self._compression,
            rows=len(data),  # a DataFrame with no columns still has rows
            columns=columns,
            metadata=meta,
            fingerprint=fingerprint,
        )
        try:
            manifest_staged = self._storage.stage_json(
                checkpoint_id + MANIFEST_SUFFIX, manifest, timings=phases
            )
        except BaseException:
            self._storage.discard(data_staged)
            raise
        _phase(phases, "manifest", started)
        try:
            self._registry.prepare(pipeline_id)
            # Both files fsync'd at once, the data renamed before the manifest, one directory
            # fsync (an object store: the data PUT, then the manifest created if absent): the
            # manifest never becomes visible before its data.
            self._storage.commit(data_staged, manifest_staged, timings=phases)
            self._index(manifest)
        except BaseException:
            # A save that raises (lock timeout, full disk) leaves no checkpoint to appear later.
            for name in (checkpoint_id + MANIFEST_SUFFIX, data_file):
                with contextlib.suppress(OSError):
                    self._storage.remove(name)
            raise
        end = _phase(phases, "registry", started)
        logger.info(
            "saved checkpoint %s (%d rows, %d bytes) in %.1f ms",
            checkpoint_id,
            table.num_rows,
            written.size,
            (end - started) * 1e3,
        )
        if timings is not None:
            timings.update((phase, round(ms, 3)) for phase, ms in phases.items())
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

    def load_checkpoint(
        self, checkpoint_id: str, *, timings: dict[str, float] | None = None
    ) -> dict[str, Any]:
        """Load a checkpoint, verifying its size and whole-file checksum before decoding it.

        Args:
            checkpoint_id: The checkpoint.
            timings: A dict that receives the milliseconds of each phase of the load:
                ``read`` (manifest and data file), ``verify`` (checksum), ``decode`` (Parquet
                to DataFrame, rows and columns checked).

        Returns:
            ``{"data": DataFrame, "state": manifest dict}``.

        Raises:
            CheckpointNotFoundError: No such checkpoint.
            IntegrityError: The data file is missing, truncated or altered, or does not hold
                the rows and columns its manifest lists; wrong data is never returned.
            CheckpointDecodeError: The file is intact but cannot be decoded (written by a
                newer version, or needing a dtype this pandas lacks).
        """
        started = time.perf_counter()
        phases: dict[str, float] = {}
        state, read = self._read(checkpoint_id, full=False, timings=phases)
        data = decode_verified(self._storage, checkpoint_id, state, read)
        _phase(phases, "decode", started)
        if timings is not None:
            timings.update((phase, round(ms, 3)) for phase, ms in phases.items())
        return {"data": data, "state": state}

    def verify_checkpoint(self, checkpoint_id: str) -> dict[str, Any]:
        """Check a checkpoint in full: size, SHA-256 and checksum of the data file, then decode
        it and compare its rows and columns with the manifest.

        Returns:
            The state (manifest) of the checkpoint.

        Raises:
            CheckpointNotFoundError: No such checkpoint.
            IntegrityError: Anything does not match or cannot be read.
            CheckpointDecodeError: The file is intact but cannot be decoded.
        """
        state, read = self._read(checkpoint_id, full=True)
        decode_verified(self._storage, checkpoint_id, state, read)
        return state

    def _read(
        self, checkpoint_id: str, *, full: bool, timings: dict[str, float] | None = None
    ) -> tuple[dict[str, Any], tuple[pa.Table, pd.Index | None]]:
        """The manifest and the verified table of a checkpoint (:func:`read_verified`).

        A compaction replaces the manifest, then removes the data object the old one named: a
        reader that read the old manifest just before finds its data gone or changed, so a
        failed check is retried once with the manifest read again if that names another file.
        """
        started = time.perf_counter()
        state = self.get_state(checkpoint_id)
        if timings is not None:
            _phase(timings, "read", started)
        try:
            read = read_verified(self._storage, checkpoint_id, state, full=full, timings=timings)
            return state, read
        except IntegrityError:
            again = self.get_state(checkpoint_id)
            if again.get("data_file") == state.get("data_file"):
                raise
        return again, read_verified(self._storage, checkpoint_id, again, full=full, timings=timings)

    # -- compact -----------------------------------------------------------------------------

    def compact(
        self,
        *,
        older_than: timedelta | float,
        codec: str = "zstd",
        level: int | None = None,
        pipeline_id: str | None = None,
        dry_run: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> CompactionResult:
        """Rewrite checkpoints older than ``older_than`` with a stronger codec, in place.

        Each checkpoint keeps its id, timestamp and metadata and loads to exactly the same
        frame; its manifest gets the new ``data_file``, ``data_hash`` (SHA-256), checksum, size,
        ``compression`` and ``compression_level``, and records the data as saved in
        ``compacted_from`` (file, SHA-256, size, codec) with the time in ``compacted_at``. The
        old data is verified in full before and the new bytes are checked to read back to the
        same table before they are committed, the way a save commits (data, then the manifest
        replaced atomically); the old data object is removed only after. A kill at any instant
        leaves the old checkpoint or the new one, both verifiable; the next cleanup removes what
        it left behind. Safe against concurrent loads, deletes, retention and compactions.

        Args:
            older_than: Age (by the checkpoint's own timestamp), as a timedelta or in days.
            codec: ``"zstd"`` (default), ``"gzip"``, ``"brotli"``, ``"lz4"``, ``"snappy"`` or
                ``"none"``.
            level: The codec's compression level (zstd 1-22, gzip 1-9, brotli 0-11, lz4 1-12);
                ``None``: the codec's default. Checkpoints already at this codec and level are
                skipped.
            pipeline_id: Only this pipeline's checkpoints.
            dry_run: Write nothing; report which checkpoints would be rewritten.
            progress: Called as ``progress(done, total)`` over the candidate checkpoints.

        Returns:
            A :class:`CompactionResult`: rewritten, skipped and failed ids, bytes before and
            after. A checkpoint that fails verification is left untouched and listed as failed.

        Raises:
            ValueError: ``older_than`` is negative or not finite, the codec is unknown, or the
                level is outside the codec's range.
            LockTimeoutError: The registry lock was not acquired in time.
        """
        return compact_checkpoints(
            self,
            older_than=older_than,
            codec=codec,
            level=level,
            pipeline_id=pipeline_id,
            dry_run=dry_run,
            progress=progress,
        )

    def _index(self, manifest: dict[str, Any]) -> None:
        """Add a written manifest to the registry, unless it was deleted meanwhile."""
        name = manifest["checkpoint_id"] + MANIFEST_SUFFIX
        # Checked under the lock: a concurrent delete never leaves an entry behind.
        self._registry.add(
            entry_from_manifest(manifest), present=lambda: self._storage.exists(name)
        )


def _phase(phases: dict[str, float], name: str, since: float) -> float:
    """Give ``name`` the milliseconds since ``since`` (the operation's start) that no phase
    claimed yet (the storage's phases run inside the store's); return now."""
    now = time.perf_counter()
    unclaimed = (now - since) * 1e3 - sum(phases.values())
    phases[name] = phases.get(name, 0.0) + max(unclaimed, 0.0)
    return now
