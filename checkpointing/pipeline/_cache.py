"""The cross-run cache: a stage's fingerprint -> a committed checkpoint of an earlier run.

On disk, beside the checkpoints (``<checkpoint_dir>/cache/<pipeline name>/``):

- ``<fingerprint>.json``: the entry ``{"fingerprint", "checkpoint_id", "pipeline_id", "stage",
  "key", "created_at"}``, created with create-if-absent, so of two processes that computed the
  same result at once exactly one entry is kept (the other's checkpoint stays an ordinary
  checkpoint of its run);
- ``latest/<digest of stage and key>.json``: the fingerprint a stage execution had last time, so
  a miss can say what changed.

The index is never trusted over the checkpoints: a hit is a checkpoint that loads with
verification and whose own manifest holds the same fingerprint, stage and pipeline name; an
entry pointing at a missing, damaged or different checkpoint is a miss (and is replaced by the
next result), never an error. Lookups read one small file; nothing scans the manifests.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from typing import TYPE_CHECKING, Any

from checkpointing._errors import CheckpointError
from checkpointing.pipeline._fingerprint import explain
from checkpointing.pipeline._runs import _id_pattern, now_utc
from checkpointing.storage._names import validate_name

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable

    from checkpointing.pipeline._fingerprint import Fingerprint
    from checkpointing.storage._protocol import Storage
    from checkpointing.store._manager import CheckpointManager

__all__ = ["invalidate_cache"]

CACHE_DIR = "cache"
_ENTRY = re.compile(r"^[0-9a-f]{64}\.json$")
_log = logging.getLogger("checkpointing.pipeline")


class CacheIndex:
    """The cache entries of one pipeline name in one checkpoint directory (process safe)."""

    def __init__(self, storage: Storage, name: str) -> None:
        self._storage = storage
        self.name = validate_name(name, what="pipeline name")
        self._dir = f"{CACHE_DIR}/{name}"

    def _entry_name(self, fingerprint: str) -> str:
        return f"{self._dir}/{fingerprint}.json"

    def _latest_name(self, stage: str, key: str | None) -> str:
        which = hashlib.sha256(repr((stage, key)).encode()).hexdigest()[:32]
        return f"{self._dir}/latest/{which}.json"

    def lookup(self, fingerprint: str) -> dict[str, Any] | None:
        """The entry of ``fingerprint``, or ``None`` when there is none or it is unreadable."""
        return _read(self._storage, self._entry_name(fingerprint))

    def commit(self, fingerprint: str, entry: dict[str, Any], *, replace: bool) -> bool:
        """Record ``entry`` for ``fingerprint``: only if there is none yet, or replacing it.

        Returns:
            Whether ``entry`` is now the recorded one.
        """
        name = self._entry_name(fingerprint)
        if replace:
            self._storage.write_json_atomic(name, entry)
            return True
        return self._storage.write_json_new(name, entry)

    def remember_latest(self, stage: str, key: str | None, entry: dict[str, Any]) -> None:
        """Note the fingerprint this stage execution had last (a hint, last writer wins)."""
        self._storage.write_json_atomic(self._latest_name(stage, key), entry)

    def latest(self, stage: str, key: str | None) -> dict[str, Any] | None:
        """What :meth:`remember_latest` noted for this stage execution, if readable."""
        return _read(self._storage, self._latest_name(stage, key))

    def entries(self) -> Iterable[tuple[str, dict[str, Any] | None]]:
        """``(file name, entry or None when unreadable)`` of every entry."""
        for file in self._storage.names(self._dir):
            if _ENTRY.match(file):
                yield file, _read(self._storage, f"{self._dir}/{file}")

    def invalidate(self, stage: str | None = None) -> int:
        """Forget the entries (of ``stage``, or all); the checkpoints stay. Returns the count."""
        removed = 0
        for file, entry in self.entries():
            if stage is None or entry is None or entry.get("stage") == stage:
                removed += self._storage.remove(f"{self._dir}/{file}")
        return removed

    def prune(self, manager: CheckpointManager) -> int:
        """Forget entries whose checkpoint is gone (retention deleted it). Returns the count."""
        removed = 0
        for file, entry in self.entries():
            checkpoint_id = None if entry is None else entry.get("checkpoint_id")
            if not isinstance(checkpoint_id, str) or not _exists(manager, checkpoint_id):
                removed += self._storage.remove(f"{self._dir}/{file}")
        return removed


def _read(storage: Storage, name: str) -> dict[str, Any] | None:
    try:
        found = storage.read_json(name)
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _exists(manager: CheckpointManager, checkpoint_id: str) -> bool:
    try:
        manager.get_state(checkpoint_id)
    except CheckpointError:
        return False
    return True


def make_entry(
    fp: Fingerprint, checkpoint_id: str, pipeline_id: str, key: str | None
) -> dict[str, Any]:
    """The cache entry (also the ``latest`` pointer) of a committed stage result."""
    return {
        "fingerprint": fp.sha256,
        "checkpoint_id": checkpoint_id,
        "pipeline_id": pipeline_id,
        "stage": fp.document["stage"],
        "key": key,
        "created_at": now_utc().isoformat(),
    }


def find(
    manager: CheckpointManager,
    index: CacheIndex,
    fp: Fingerprint,
    *,
    timings: dict[str, float] | None = None,
) -> tuple[dict[str, Any] | None, str, bool]:
    """Look ``fp`` up: ``(loaded checkpoint or None, reason, whether an entry was unusable)``.

    The loaded checkpoint (``{"data", "state"}``) is a hit only after verification and after its
    own manifest confirmed the fingerprint, stage and pipeline name. ``timings`` receives the
    phases of the load (see ``CheckpointManager.load_checkpoint``).
    """
    stage = fp.document["stage"]
    entry = index.lookup(fp.sha256)
    if entry is None:
        return None, "cache miss: " + _why_missing(manager, index, fp), False
    checkpoint_id = entry.get("checkpoint_id")
    if not isinstance(checkpoint_id, str):
        return None, "cache miss: the cache entry is unreadable", True
    try:
        loaded = manager.load_checkpoint(checkpoint_id, timings=timings)
    except CheckpointError as error:
        detail = getattr(error, "reason", None) or str(error)
        return None, f"cache miss: cached checkpoint {checkpoint_id} is unusable: {detail}", True
    state = loaded["state"]
    recorded = (
        (state.get("fingerprint") or {}).get("sha256")
        if isinstance(state.get("fingerprint"), dict)
        else None
    )
    owner = state.get("pipeline_id")
    if (
        recorded != fp.sha256
        or state.get("stage") != stage
        or not _id_pattern(index.name).match(str(owner))
    ):
        why = f"cache miss: cached checkpoint {checkpoint_id} does not hold this stage's result"
        return None, why, True
    short = fp.sha256[:12]
    return (
        loaded,
        f"cache hit: fingerprint {short} matches checkpoint {checkpoint_id} of run {owner}",
        False,
    )


def _why_missing(manager: CheckpointManager, index: CacheIndex, fp: Fingerprint) -> str:
    latest = index.latest(fp.document["stage"], fp.document["key"])
    if latest is None:
        return "no earlier result"
    if latest.get("fingerprint") == fp.sha256:
        return "the cached result was invalidated or deleted"
    try:
        state = manager.get_state(str(latest.get("checkpoint_id")))
    except CheckpointError:
        return "fingerprint changed (the last result is gone)"
    recorded = state.get("fingerprint")
    old = recorded.get("document") if isinstance(recorded, dict) else None
    return explain(old, fp.document)


class RerunPolicy:
    """Which stages rerun even when they could be restored (``rerun_from=``, ``rerun=``).

    ``rerun_from`` reruns the first execution of that stage entered in the run and every stage
    entered after it; ``rerun`` reruns every execution of the stages it names.
    """

    def __init__(self, rerun_from: str | None, rerun: Iterable[str]) -> None:
        if isinstance(rerun, str):
            raise TypeError("rerun= takes a collection of stage names, not one string")
        self._from = None if rerun_from is None else validate_name(rerun_from, what="stage")
        self._names = frozenset(validate_name(n, what="stage") for n in rerun)
        self._started = False
        self._lock = threading.Lock()

    def reason(self, stage: str) -> str | None:
        """Why ``stage``, entered now, must rerun; ``None`` when it may be restored."""
        with self._lock:
            if stage == self._from:
                self._started = True
            if self._started:
                return f"rerun requested (rerun_from={self._from!r})"
        if stage in self._names:
            return f"rerun requested (rerun includes {stage!r})"
        return None


def invalidate_cache(
    name: str,
    stage: str | None = None,
    *,
    checkpoint_dir: str | os.PathLike[str] = "data/checkpoints",
) -> int:
    """Mark the cached results of pipeline ``name`` (or of one stage) stale.

    Later runs with ``cache=True`` no longer restore them and run the stage again; the
    checkpoints themselves are not deleted (they stay listed and loadable until retention
    removes them), and runs being resumed still restore their own checkpoints.

    Args:
        name: The pipeline name.
        stage: Only this stage's results (every execution and key of it); default all.
        checkpoint_dir: The checkpoint directory.

    Returns:
        How many cached results were forgotten.

    Raises:
        checkpointing.InvalidNameError: ``name`` or ``stage`` is not a valid name.
    """
    from checkpointing.storage._open import open_storage

    if stage is not None:
        validate_name(stage, what="stage")
    index = CacheIndex(open_storage(checkpoint_dir), name)
    removed = index.invalidate(stage)
    _log.info(
        "invalidated %d cached result(s) of %s%s", removed, name, f" stage {stage}" if stage else ""
    )
    return removed
