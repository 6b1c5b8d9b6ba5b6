"""Retention of a checkpoint store: expire old checkpoints and remove what crashes left behind.

Expiry reads the registry index, which keeps per pipeline a lower bound of its checkpoints'
timestamps, and opens only the shards of pipelines that may hold an expired checkpoint: with
nothing expired, it reads one small file whatever the store's size.

The leftover sweep (temporary files of interrupted writes and data files without a manifest,
each only once older than a grace period, and data objects a compaction replaced; manifests
whose data file is gone; registry entries
without a manifest, and manifests missing from the registry) lists the whole directory, so it
runs only when there is evidence of a crash: every process that writes to a store holds a
lease there, and a lease left unlocked means its holder died. It also runs when the last sweep
is older than :data:`SWEEP_INTERVAL`, or when asked to. Only files named by the store's scheme
(:mod:`checkpointing.store._layout`), in a directory marked as a store, are ever deleted.
"""

from __future__ import annotations

import contextlib
import logging
import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from checkpointing._errors import CheckpointError, CheckpointNotFoundError, IntegrityError
from checkpointing.store._layout import (
    CHECKPOINT_FILE,
    COMPACTED_DATA,
    REGISTRY_DIR,
    foreign_files,
    is_data_object,
    is_marked,
    own_temp_file,
)
from checkpointing.store._manifest import DATA_SUFFIX, MANIFEST_SUFFIX
from checkpointing.store._shards import SHARDS

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from checkpointing.store._catalog import Catalog

__all__: list[str] = []

logger = logging.getLogger(__name__)

WRITERS = f"{REGISTRY_DIR}/writers"
SWEPT = f"{REGISTRY_DIR}/swept"
SWEEP_INTERVAL = 7 * 86400.0


def check_retention(retention_days: float, keep_last: int | None) -> None:
    """Raise ValueError for a retention that is negative, infinite or not a number."""
    if not isinstance(retention_days, int | float) or not math.isfinite(retention_days):
        raise ValueError(f"retention_days must be a finite number, not {retention_days!r}")
    if retention_days < 0:
        raise ValueError("retention_days must not be negative")
    if keep_last is not None and (
        not isinstance(keep_last, int) or isinstance(keep_last, bool) or keep_last < 0
    ):
        raise ValueError(f"keep_last must be None or an int >= 0, not {keep_last!r}")


def cutoff_of(retention_days: float) -> str:
    """The ISO-8601 time before which a checkpoint is older than ``retention_days``."""
    return (datetime.now(UTC) - timedelta(days=retention_days)).isoformat()


def expire_checkpoints(
    manager: Catalog,
    retention_days: float,
    *,
    pipeline_ids: Collection[str] | None,
    keep_last: int | None,
    protect: Collection[str],
    dry_run: bool,
    grace_seconds: float,
    sweep: bool | None,
    progress: Callable[[int, int], None] | None = None,
) -> list[str]:
    """Delete (or with ``dry_run`` only list) the expired checkpoints; see
    :meth:`CheckpointManager.cleanup_old_checkpoints`."""
    check_retention(retention_days, keep_last)
    storage = manager._storage
    if not storage.root_exists():
        return []
    if not is_marked(storage):
        foreign = foreign_files(storage.names())
        if foreign:
            raise CheckpointError(
                f"{storage.location} is not a checkpoint store (no stagepoint.store marker) and "
                f"holds other files ({', '.join(sorted(foreign)[:3])}, ...): nothing was deleted"
            )
        return []  # nothing of a store yet, or a first save in progress
    cutoff = cutoff_of(retention_days)
    registry = manager._registry
    if pipeline_ids is None:
        candidates: dict[str, str | None] = {
            p: bound for p, bound in registry.pipelines().items() if bound < cutoff
        }
    else:
        candidates = dict.fromkeys(pipeline_ids)
    protected = set(protect)
    expired: list[str] = []
    for done, (pipeline_id, bound) in enumerate(candidates.items()):
        if progress is not None:
            progress(done, len(candidates))
        entries = registry.pipeline_entries(pipeline_id)
        doomed = _select(entries, cutoff, keep_last, protected)
        expired += doomed
        if dry_run:
            continue
        if doomed:
            manager._delete_many(pipeline_id, doomed)
        elif bound is not None:
            registry.settle(pipeline_id, bound)  # the bound was below the oldest: raise it
    if not dry_run:
        if expired:
            logger.info(
                "deleted %d checkpoint(s) older than %g day(s)", len(expired), retention_days
            )
        maybe_sweep(manager, grace_seconds=grace_seconds, sweep=sweep)
    return sorted(expired)


def _select(
    entries: dict[str, dict[str, Any]], cutoff: str, keep_last: int | None, protected: set[str]
) -> list[str]:
    """The ids older than ``cutoff`` that neither ``keep_last`` nor ``protected`` keeps."""
    kept = set(protected)
    if keep_last:
        by_stage: dict[object, list[dict[str, Any]]] = {}
        for entry in entries.values():
            by_stage.setdefault(entry.get("stage"), []).append(entry)
        for group in by_stage.values():
            group.sort(key=lambda e: (e["timestamp"], e["checkpoint_id"]), reverse=True)
            kept.update(e["checkpoint_id"] for e in group[:keep_last])
    return [
        cid for cid, entry in entries.items() if entry["timestamp"] < cutoff and cid not in kept
    ]


def maybe_sweep(manager: Catalog, *, grace_seconds: float, sweep: bool | None) -> None:
    """Run the leftover sweep if asked (``True``), or (``None``) on evidence of a crash or when
    the last one is older than :data:`SWEEP_INTERVAL`."""
    if sweep is False:
        return
    storage = manager._storage
    dead = storage.expired_leases(WRITERS)
    if sweep is None and not dead:
        try:
            if storage.age_seconds(SWEPT) < SWEEP_INTERVAL:
                return
        except FileNotFoundError:
            pass
    remove_leftovers(manager, grace_seconds)
    for name, noticed in dead:
        # Once the grace period has passed since the death was noticed, every leftover of
        # the dead process is old enough to have been removed by this sweep.
        if noticed >= grace_seconds:
            storage.remove(name)
    storage.write_bytes_atomic(SWEPT, datetime.now(UTC).isoformat().encode() + b"\n")


def remove_leftovers(manager: Catalog, grace_seconds: float) -> None:
    """Remove leftovers of interrupted writes and deletes, and re-index unlisted manifests."""
    storage, registry = manager._storage, manager._registry
    names = storage.names()
    removed = _remove_temp_files(manager, grace_seconds)
    manifests: set[str] = set()
    data: dict[str, list[str]] = {}  # id -> its data objects: as saved and compacted
    for name in names:
        found = CHECKPOINT_FILE.fullmatch(name) or COMPACTED_DATA.fullmatch(name)
        if found is None:
            continue
        if name.endswith(MANIFEST_SUFFIX):
            manifests.add(found["id"])
        else:
            data.setdefault(found["id"], []).append(name)
    for cid, objects in data.items():
        if cid not in manifests or len(objects) > 1 or objects[0] != cid + DATA_SUFFIX:
            removed += _remove_unnamed_data(manager, cid, objects, grace_seconds)
    gone = _remove_dataless_manifests(manager, manifests - set(data))
    registered = registry.all_entries()
    stale = [
        (entry["pipeline_id"], cid)
        for cid, entry in registered.items()
        if cid not in manifests and not storage.exists(cid + MANIFEST_SUFFIX)
    ]
    registry.delete(stale)
    missing = sorted(manifests - set(registered) - gone)
    for cid in missing:
        with contextlib.suppress(CheckpointNotFoundError, IntegrityError):
            manager._index(manager.get_state(cid))
    unlisted = registry.index_unlisted()
    if removed or gone or stale or missing or unlisted:
        logger.info(
            "cleanup removed %d leftover file(s) and %d manifest(s) without data, dropped %d "
            "stale registry entr(ies), re-indexed %d checkpoint(s) and %d pipeline(s)",
            removed,
            len(gone),
            len(stale),
            len(missing),
            unlisted,
        )


def _remove_dataless_manifests(manager: Catalog, candidates: set[str]) -> set[str]:
    """Remove the manifests (and entries) among ``candidates`` whose data file is gone."""
    storage, gone = manager._storage, set()
    for cid in candidates:  # only a deleted data file leaves a manifest alone
        try:
            state = manager.get_state(cid)
            if not is_data_object(state["data_file"], cid) or storage.exists(state["data_file"]):
                continue
            # Re-read: a compaction replaces the manifest before it removes the old data file,
            # so a manifest naming a missing file twice is one whose data is really gone.
            if manager.get_state(cid)["data_file"] != state["data_file"]:
                continue
        except (CheckpointNotFoundError, IntegrityError):
            continue  # not provably a manifest of ours: left alone
        if storage.remove(cid + MANIFEST_SUFFIX):
            manager._registry.delete([(state["pipeline_id"], cid)])
            gone.add(cid)
    return gone


def _remove_unnamed_data(manager: Catalog, cid: str, objects: list[str], grace: float) -> int:
    """Remove the data objects of ``cid`` older than ``grace`` that its manifest does not name
    (a save, delete or compaction interrupted between its steps); return how many."""
    storage, removed = manager._storage, 0
    for name in objects:
        with contextlib.suppress(FileNotFoundError):
            if storage.age_seconds(name) <= grace or _names_data(manager, cid, name):
                continue
            # Asked twice: a compaction may have committed a manifest naming it in between.
            if not _names_data(manager, cid, name):
                removed += storage.remove(name)
    return removed


def _names_data(manager: Catalog, cid: str, name: str) -> bool:
    """Whether the manifest of ``cid`` names ``name`` as its data (True when unreadable)."""
    try:
        return bool(manager.get_state(cid)["data_file"] == name)
    except CheckpointNotFoundError:
        return False
    except IntegrityError:
        return name == cid + DATA_SUFFIX  # a damaged manifest keeps its data file as saved


def _remove_temp_files(manager: Catalog, grace: float) -> int:
    """Remove the store's temporary files older than ``grace`` seconds; return how many."""
    storage = manager._storage
    old = [n for n in storage.leftovers(older_than=grace) if own_temp_file(n)]
    for subdir in (REGISTRY_DIR, SHARDS):  # everything in the registry's folders is the store's
        old += storage.leftovers(older_than=grace, subdir=subdir)
    return sum(storage.remove_raw(name) for name in old)
