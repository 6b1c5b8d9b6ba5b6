"""Retention of a checkpoint store: expire old checkpoints and remove what crashes left behind.

Leftovers are temporary files of interrupted writes and data files without a manifest (each
only once older than a grace period, so saves in progress elsewhere are left alone), manifests
whose data file is gone, and registry entries without a manifest.
"""

from __future__ import annotations

import contextlib
import logging
import os
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from checkpointing._errors import CheckpointNotFoundError, IntegrityError
from checkpointing.storage._local import TEMP_PREFIX
from checkpointing.store._manifest import DATA_SUFFIX, MANIFEST_SUFFIX
from checkpointing.store._registry import REGISTRY_FILES

if TYPE_CHECKING:
    from collections.abc import Callable

    from checkpointing.store._manager import CheckpointManager

__all__: list[str] = []

logger = logging.getLogger(__name__)


def expire_checkpoints(
    manager: CheckpointManager,
    retention_days: float,
    *,
    grace_seconds: float,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Delete the checkpoints older than ``retention_days``, then leftovers; return the count.

    ``progress(done, total)`` is called as the registered checkpoints are examined.
    """
    if retention_days < 0:
        raise ValueError("retention_days must not be negative")
    cutoff = (datetime.now(UTC) - timedelta(days=retention_days)).isoformat()
    entries = manager._registry.entries()
    deleted = 0
    for done, (cid, entry) in enumerate(entries.items()):
        if progress is not None and done % 256 == 0:
            progress(done, len(entries))
        if (entry.get("timestamp") or "") < cutoff and manager.delete_checkpoint(cid):
            deleted += 1
    remove_leftovers(manager, entries, grace_seconds)
    if deleted:
        logger.info("deleted %d checkpoint(s) older than %g day(s)", deleted, retention_days)
    return deleted


def remove_leftovers(
    manager: CheckpointManager, entries: dict[str, Any], grace_seconds: float
) -> None:
    """Remove leftovers of interrupted writes and deletes, and re-index unlisted manifests."""
    storage, registry = manager.storage, manager._registry
    names = set(storage.names())
    removed: list[str] = list(storage.leftovers(older_than=grace_seconds))
    for name in removed:
        storage.remove_raw(name)
    stems_with_manifest = set()
    for name in names:
        if name in REGISTRY_FILES or name.startswith(TEMP_PREFIX):
            continue
        stem, suffix = os.path.splitext(name)  # noqa: PTH122 - a bare file name
        if suffix == MANIFEST_SUFFIX:
            stems_with_manifest.add(stem)
            if not storage.exists(stem + DATA_SUFFIX) and storage.remove(name):
                registry.delete([stem])
                removed.append(name)
        elif suffix == DATA_SUFFIX and stem + MANIFEST_SUFFIX not in names:
            with contextlib.suppress(FileNotFoundError):
                if not storage.exists(stem + MANIFEST_SUFFIX) and (
                    storage.age_seconds(name) > grace_seconds
                ):
                    storage.remove(name)
                    removed.append(name)
    stale = [
        cid
        for cid in entries
        if cid not in stems_with_manifest and not storage.exists(cid + MANIFEST_SUFFIX)
    ]
    missing = [
        stem
        for stem in stems_with_manifest
        if stem not in entries and storage.exists(stem + MANIFEST_SUFFIX)
    ]
    registry.delete(stale)
    for stem in missing:
        with contextlib.suppress(CheckpointNotFoundError, IntegrityError):
            manager._index(manager.get_state(stem))
    if removed or stale or missing:
        logger.info(
            "cleanup removed %d leftover file(s), %d stale registry entr(ies), "
            "re-indexed %d checkpoint(s)",
            len(removed),
            len(stale),
            len(missing),
        )
