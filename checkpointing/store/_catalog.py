"""Listing, deletion and retention of a store's checkpoints: the catalogue side of the manager.

:class:`Catalog` is mixed into :class:`~checkpointing.store._manager.CheckpointManager`, which
adds saving, loading and verifying. Everything here reads the registry without its lock (a
read-only user can list, and readers never wait for writers) and deletes only what the store can
prove it wrote (:mod:`checkpointing.store._layout`).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Any, Literal, overload

from checkpointing._errors import CheckpointNotFoundError, IntegrityError
from checkpointing.storage._names import validate_name
from checkpointing.store._layout import (
    CHECKPOINT_FILE,
    is_checkpoint_id,
    is_data_object,
    is_marked,
    write_marker,
)
from checkpointing.store._listing import ListingRegistry
from checkpointing.store._manifest import DATA_SUFFIX, MANIFEST_SUFFIX
from checkpointing.store._registry import Registry
from checkpointing.store._retention import WRITERS, expire_checkpoints

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterator

    from checkpointing.storage._protocol import Storage

__all__: list[str] = []

logger = logging.getLogger("checkpointing.store._manager")

# The lease of this process in each store it wrote to: (store, pid) -> lease name.
_LEASES: dict[tuple[str, int], str] = {}
_prepare_lock = threading.RLock()


class Catalog:
    """List, find, delete and expire checkpoints; rebuild the registry (see CheckpointManager)."""

    _storage: Storage
    _registry: Registry | ListingRegistry
    _preparing: bool

    def _init_catalog(self, storage: Storage, *, lock_timeout: float) -> None:
        self._storage = storage
        # An append-only index where appends and locks are cheap; the manifests' listing where
        # they are not (an object store).
        self._registry = (
            Registry(storage, lock_timeout=lock_timeout, scan_manifests=self._scan_manifests)
            if storage.appendable
            else ListingRegistry(storage, read_manifest=self.get_state)
        )
        self._preparing = False
        storage.before_first_write = self._before_first_write

    if TYPE_CHECKING:

        def get_state(self, checkpoint_id: str) -> dict[str, Any]: ...

        def _index(self, manifest: dict[str, Any]) -> None: ...

    # -- query -------------------------------------------------------------------------------

    def list_checkpoints(
        self,
        pipeline_id: str | None = None,
        *,
        stage: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Registered checkpoints, newest first, optionally of one pipeline and/or stage.

        Each dict holds checkpoint_id, pipeline_id, stage, timestamp, rows, data_hash,
        data_size and data_file. With ``pipeline_id``, only that pipeline's part of the registry
        is read, so the cost does not grow with the rest of the store. A checkpoint whose
        manifest is gone (a delete interrupted between the manifest and the registry) is never
        listed. Needs no write access. ``progress(done, total)`` is called as the registry's
        pipelines are read (for a progress bar).
        """
        found = self._registry.listed(pipeline_id, stage, progress=progress)
        found.sort(key=_newest_first, reverse=True)
        return found

    def get_latest_checkpoint(self, pipeline_id: str, stage: str | None = None) -> str | None:
        """The id of the newest checkpoint of ``pipeline_id`` (and ``stage``), or None.

        Reads only that pipeline's part of the registry and checks one manifest: the cost does
        not grow with the number of other pipelines' checkpoints, in a new process too.
        """
        return self._registry.latest(pipeline_id, stage)

    def list_pipelines(self) -> list[str]:
        """The pipeline ids that have registered checkpoints, sorted (one directory listing)."""
        return sorted(self._registry.shard_pipelines())

    def get_pipeline_progress(self, pipeline_id: str) -> dict[str, Any]:
        """Progress of a pipeline from its checkpoints.

        Returns:
            ``pipeline_id``; ``completed_stages`` (stages with a checkpoint, in order of first
            completion); ``total_checkpoints``; ``latest_checkpoint`` (id or None) and
            ``latest_timestamp``.
        """
        found = self.list_checkpoints(pipeline_id)
        stages: list[str] = []
        for entry in reversed(found):
            if entry["stage"] not in stages:
                stages.append(entry["stage"])
        return {
            "pipeline_id": pipeline_id,
            "completed_stages": stages,
            "total_checkpoints": len(found),
            "latest_checkpoint": found[0]["checkpoint_id"] if found else None,
            "latest_timestamp": found[0]["timestamp"] if found else None,
        }

    # -- delete and expire -------------------------------------------------------------------

    def delete_checkpoint(self, checkpoint_id: str) -> bool:
        """Delete a checkpoint: manifest first (it disappears at once), registry entry, data.

        Only a checkpoint of this store is deleted: ``checkpoint_id`` must have the shape of the
        ids it creates, in a directory marked as a store (see docs/reliability.md).

        Returns:
            True if this call deleted it, False if there was no such checkpoint.
        """
        validate_name(checkpoint_id, what="checkpoint_id")
        if not is_checkpoint_id(checkpoint_id) or not self._storage.root_exists():
            return False
        if not is_marked(self._storage):
            return False
        # Under the registry lock, so that a compaction cannot replace the manifest between
        # reading it (its data file) and removing it.
        with self._registry.locked():
            try:
                state = self.get_state(checkpoint_id)
                pipeline_id: str | None = state["pipeline_id"]
            except CheckpointNotFoundError:
                return False
            except IntegrityError:  # a damaged manifest still names its pipeline in the id
                state, pipeline_id = {}, self._registry.owner_of(checkpoint_id)
            if not self._storage.remove(checkpoint_id + MANIFEST_SUFFIX):
                return False
            if pipeline_id is not None:
                self._registry.delete([(pipeline_id, checkpoint_id)])
        self._remove_data(checkpoint_id, state)
        logger.info("deleted checkpoint %s", checkpoint_id)
        return True

    def _delete_many(self, pipeline_id: str, checkpoint_ids: list[str]) -> None:
        """Delete checkpoints of one pipeline in the order of :meth:`delete_checkpoint`, with
        one registry update."""
        removed: dict[str, dict[str, Any]] = {}
        with self._registry.locked():
            for checkpoint_id in checkpoint_ids:
                try:
                    state = self.get_state(checkpoint_id)
                except CheckpointNotFoundError:
                    continue
                except IntegrityError:
                    state = {}
                if self._storage.remove(checkpoint_id + MANIFEST_SUFFIX):
                    removed[checkpoint_id] = state
            self._registry.delete([(pipeline_id, c) for c in removed], settle=True)
        for checkpoint_id, state in removed.items():
            self._remove_data(checkpoint_id, state)

    def _remove_data(self, checkpoint_id: str, state: dict[str, Any]) -> None:
        """Remove the data object of a deleted checkpoint: as saved, or as compacted."""
        self._storage.remove(checkpoint_id + DATA_SUFFIX)
        data_file = state.get("data_file")
        if isinstance(data_file, str) and is_data_object(data_file, checkpoint_id):
            self._storage.remove(data_file)

    @overload
    def cleanup_old_checkpoints(
        self,
        retention_days: float = ...,
        *,
        pipeline_id: str | Collection[str] | None = ...,
        keep_last: int | None = ...,
        protect: Collection[str] = ...,
        dry_run: Literal[False] = ...,
        grace_seconds: float = ...,
        sweep: bool | None = ...,
        progress: Callable[[int, int], None] | None = ...,
    ) -> int: ...

    @overload
    def cleanup_old_checkpoints(
        self,
        retention_days: float = ...,
        *,
        pipeline_id: str | Collection[str] | None = ...,
        keep_last: int | None = ...,
        protect: Collection[str] = ...,
        dry_run: Literal[True],
        grace_seconds: float = ...,
        sweep: bool | None = ...,
        progress: Callable[[int, int], None] | None = ...,
    ) -> list[str]: ...

    def cleanup_old_checkpoints(
        self,
        retention_days: float = 7,
        *,
        pipeline_id: str | Collection[str] | None = None,
        keep_last: int | None = None,
        protect: Collection[str] = (),
        dry_run: bool = False,
        grace_seconds: float = 600.0,
        sweep: bool | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> int | list[str]:
        """Delete checkpoints older than ``retention_days`` (by their own timestamp).

        This knows nothing of runs: when ``Pipeline`` runs share the directory, prefer
        ``Pipeline.cleanup`` or ``python -m checkpointing cleanup``, which never delete what a
        live or unfinished run still uses (or pass those ids as ``protect``). Only files of this
        store's naming scheme, in a directory marked as a store, are ever deleted.

        Args:
            retention_days: Age limit; fractional days are fine. ``0`` expires everything not
                kept by ``keep_last`` or ``protect``.
            pipeline_id: Only these pipelines (one id or several); default: every pipeline.
            keep_last: Keep the newest ``keep_last`` checkpoints of each pipeline and stage
                whatever their age (the last N runs of a job that saves each stage once per run).
            protect: Checkpoint ids never to delete.
            dry_run: Delete nothing; return the ids that would be deleted.
            grace_seconds: Minimum age of a leftover file before it is removed.
            sweep: Also remove leftovers of interrupted writes (temporary files and data files
                without a manifest, once older than ``grace_seconds``; manifests whose data file
                is gone) and repair the registry: ``True`` now, ``False`` never, ``None``
                (default) only after a writer died or a week after the last sweep, so a
                routine cleanup does not list the whole directory.
            progress: Called as ``progress(done, total)`` while the pipelines that may hold
                expired checkpoints are examined (for a progress bar).

        Returns:
            How many checkpoints were deleted for their age, or with ``dry_run`` their ids.

        Raises:
            ValueError: ``retention_days`` is negative or not finite, or ``keep_last`` < 0.
            CheckpointError: The directory holds files but is not a checkpoint store.
        """
        scope = [pipeline_id] if isinstance(pipeline_id, str) else pipeline_id
        expired = expire_checkpoints(
            self,
            retention_days,
            pipeline_ids=scope,
            keep_last=keep_last,
            protect=protect,
            dry_run=dry_run,
            grace_seconds=grace_seconds,
            sweep=sweep,
            progress=progress,
        )
        return expired if dry_run else len(expired)

    # -- registry ----------------------------------------------------------------------------

    def rebuild_registry(self) -> int:
        """Rebuild the registry from the manifests (the source of truth); return the count."""
        count = self._registry.rebuild()
        logger.info("rebuilt checkpoint registry with %d entries", count)
        return count

    def _scan_manifests(self, prefix: str | None) -> Iterator[dict[str, Any]]:
        for name in self._storage.names():
            found = CHECKPOINT_FILE.fullmatch(name)
            if found is None or found["kind"] != "json":
                continue
            if prefix is not None and not name.startswith(prefix):
                continue
            try:
                yield self.get_state(found["id"])
            except CheckpointNotFoundError:
                continue  # deleted since the listing
            except (IntegrityError, ValueError):
                logger.warning("skipping unreadable manifest %s", name)

    def _before_first_write(self) -> None:
        """Before this process first writes into the store: hold a lease there (a crash leaves
        it behind as evidence for the leftover sweep) and mark the directory as a store."""
        with _prepare_lock:
            if self._preparing:
                return
            self._preparing = True
            try:
                key = (self._storage.location, os.getpid())
                lease = _LEASES.get(key)
                if lease is None or not self._storage.exists(lease):
                    _LEASES[key] = self._storage.hold_lease(WRITERS)
                write_marker(self._storage)
            finally:
                self._preparing = False


def _newest_first(entry: dict[str, Any]) -> tuple[str, str]:
    return (entry.get("timestamp") or "", entry["checkpoint_id"])
