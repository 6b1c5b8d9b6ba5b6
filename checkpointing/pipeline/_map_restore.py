"""What a fan-out restores instead of running: this run's committed items, cached results.

Before anything is submitted, each item is restored, when it can be, from the run record of a
resumed run, else from the item's commit record (its worker committed it but the driver stopped
before recording it), else, with ``cache=True``, from the cross-run cache (an earlier run's item
with the same fingerprint). The events say which, or why the item runs again.
``Pipeline.load`` finds one item the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from checkpointing._errors import CheckpointNotFoundError, IntegrityError, ItemNotFoundError
from checkpointing.pipeline import _cache, _items
from checkpointing.pipeline._fingerprint import explain
from checkpointing.storage._names import validate_name

if TYPE_CHECKING:
    from checkpointing.pipeline._cache import CacheIndex
    from checkpointing.pipeline._events import EventLog
    from checkpointing.pipeline._fingerprint import Fingerprint
    from checkpointing.pipeline._map_worker import MapTask
    from checkpointing.pipeline._run import RunTracker
    from checkpointing.store._manager import CheckpointManager

__all__: list[str] = []


@dataclass(frozen=True)
class Restored:
    """An item that need not run.

    Attributes:
        result: Its data, or its checkpoint id when the fan-out does not collect.
        rows: Its rows.
        record: Fields of the run record entry to write for it, or ``None`` when the record
            has it already.
    """

    result: Any
    rows: int
    record: dict[str, Any] | None


class ItemRestorer:
    """Restores the items of the fan-outs of one run.

    Args:
        run: The run.
        events: Where events go.
        manager: The checkpoint store.
        cache: The cross-run cache of the pipeline name.
    """

    def __init__(
        self,
        run: RunTracker,
        events: EventLog,
        manager: CheckpointManager,
        cache: CacheIndex | None,
    ) -> None:
        self._run = run
        self._events = events
        self._manager = manager
        self._cache = cache

    def restore(
        self, task: MapTask, keys: list[str], fps: list[Fingerprint | None], *, forced: str | None
    ) -> tuple[dict[int, Restored], set[int]]:
        """Restore what can be (``forced``: nothing, for that reason, and a resumed run forgets
        its earlier attempt's commit of each item, so that it runs again); log why the rest runs.

        Returns:
            The restored items by index, and the indexes whose cache entry is unusable (the
            item's new result replaces it).
        """
        restored: dict[int, Restored] = {}
        broken: set[int] = set()
        recorded = self._run.keyed_candidates(task.stage) if self._run.resumed else {}
        for index, key in enumerate(keys):
            fp = fps[index]
            reasons: list[tuple[str, bool]] = []  # (why not restored, whether it is a warning)
            found = None
            if forced is not None:
                reasons.append((forced, False))
                if self._run.resumed:  # else the rerun would find the earlier attempt's commit
                    _items.uncommit(self._manager.storage, task.pipeline_id, task.stage, key)
            else:
                if self._run.resumed:
                    found = self._own(task, key, recorded.get(key, []), fp, reasons)
                if found is None and fp is not None and self._cache is not None:
                    found = self._cached(task, key, fp, reasons)
                    if found is None and reasons[-1][1]:
                        broken.add(index)
            if found is None:
                text = "; ".join(dict.fromkeys(r for r, _ in reasons)) or "no checkpoint"
                status = "warning" if any(w for _, w in reasons) else "info"
                self._event(task, "stage_rerun", status, {"key": key, "reason": text})
            else:
                restored[index] = found
        return restored, broken

    def _own(
        self,
        task: MapTask,
        key: str,
        recorded: list[str],
        fp: Fingerprint | None,
        reasons: list[tuple[str, bool]],
    ) -> Restored | None:
        """The item from this run's own checkpoints (run record, else commit record)."""
        found, failures = restore_item(self._manager, task, key, recorded, fp)
        reasons.extend(failures)
        if found is None:
            return None
        checkpoint_id, result, rows, from_commit = found
        reason = f"restored from checkpoint {checkpoint_id}"
        if failures:
            reason += " (newer " + "; ".join(r for r, _ in failures) + ")"
        status = "warning" if any(w for _, w in failures) else "success"
        extra = {} if fp is None else {"fingerprint": fp.sha256}
        self._restored(
            task,
            key,
            checkpoint_id=checkpoint_id,
            rows=rows,
            reason=reason,
            status=status,
            extra=extra,
            hit={},
        )
        record = {"checkpoint_ids": [checkpoint_id]} | extra if from_commit else None
        return Restored(result, rows, record)

    def _cached(
        self, task: MapTask, key: str, fp: Fingerprint, reasons: list[tuple[str, bool]]
    ) -> Restored | None:
        """The item from an earlier run with the same fingerprint."""
        assert self._cache is not None
        loaded, reason, unusable = _cache.find(self._manager, self._cache, fp)
        if loaded is None:
            if reasons == [("no checkpoint", False)]:
                reasons.clear()
            reasons.append((reason, unusable))
            return None
        state = loaded["state"]
        checkpoint_id, rows = str(state["checkpoint_id"]), int(state["rows"])
        extra = {"fingerprint": fp.sha256}
        hit = {"cache_hit": True, "cached_run": state["pipeline_id"]}
        self._restored(
            task,
            key,
            checkpoint_id=checkpoint_id,
            rows=rows,
            reason=reason,
            status="success",
            extra=extra,
            hit=hit,
        )
        result = loaded["data"] if task.collect else checkpoint_id
        return Restored(result, rows, {"checkpoint_ids": [], "cached_from": checkpoint_id} | extra)

    def _restored(
        self,
        task: MapTask,
        key: str,
        *,
        checkpoint_id: str,
        rows: int,
        reason: str,
        status: str,
        extra: dict[str, Any],
        hit: dict[str, Any],
    ) -> None:
        """``stage_start``, ``stage_restored`` and ``stage_complete`` of a restored item."""
        start = {"key": key} | extra | ({"resumed": True} if self._run.resumed else {})
        self._event(task, "stage_start", "info", start)
        details = {"key": key, "checkpoint_id": checkpoint_id, "rows": rows, "reason": reason}
        self._event(task, "stage_restored", status, details | hit)
        complete = {"key": key, "rows": rows, "restored": True, "restored_from": checkpoint_id}
        cached = {"cached": True} if hit else {}
        self._event(task, "stage_complete", "success", complete | cached | {"reason": reason})

    def _event(self, task: MapTask, kind: str, status: str, metadata: dict[str, Any]) -> None:
        self._events.event(kind, task.pipeline_id, task.stage, status, metadata)


def restore_item(
    manager: CheckpointManager,
    task: MapTask,
    key: str,
    recorded: list[str],
    fp: Fingerprint | None = None,
) -> tuple[tuple[str, Any, int, bool] | None, list[tuple[str, bool]]]:
    """Find the item's committed checkpoint in this run: the run record's, else the commit's.

    Each candidate is loaded (and so verified) when the fan-out collects data, else its manifest
    is read; it must name this run, stage and key, and hold ``fp`` when there is one. A commit
    record whose checkpoint is gone, damaged or stale is removed, so the item's rerun can commit
    (the run's owner alone runs this, before the rerun is submitted).

    Returns:
        ``((checkpoint id, data or id, rows, found only by its commit record) or None,
        [(why a candidate was passed over, whether that is a warning)])``.
    """
    storage = manager.storage
    failures: list[tuple[str, bool]] = []
    commit_id = _items.committed(storage, task.pipeline_id, task.stage, key)
    candidates = list(recorded)
    if commit_id is not None and commit_id not in candidates:
        candidates.append(commit_id)
    for checkpoint_id in candidates:
        try:
            if task.collect:
                loaded = manager.load_checkpoint(checkpoint_id)
                state, result = loaded["state"], loaded["data"]
            else:
                state, result = manager.get_state(checkpoint_id), checkpoint_id
        except IntegrityError as error:
            reason = f"checkpoint {checkpoint_id} failed verification: {error.reason}"
            failures.append((reason, True))
            continue
        except CheckpointNotFoundError:
            failures.append((f"checkpoint {checkpoint_id} not found", True))
            continue
        if not belongs(state, task.pipeline_id, task.stage, key):
            failures.append((f"checkpoint {checkpoint_id} belongs to another item", True))
            continue
        recorded_fp = state.get("fingerprint") if isinstance(state.get("fingerprint"), dict) else {}
        assert isinstance(recorded_fp, dict)
        if fp is not None and recorded_fp.get("sha256") != fp.sha256:
            failures.append((explain(recorded_fp.get("document"), fp.document), False))
            continue
        from_commit = checkpoint_id not in recorded
        return (checkpoint_id, result, int(state["rows"]), from_commit), failures
    if commit_id is not None:  # gone, damaged or stale: let the rerun commit its result
        _items.uncommit(storage, task.pipeline_id, task.stage, key)
    return None, failures


def belongs(state: dict[str, Any], pipeline_id: str, stage: str, key: str) -> bool:
    """Whether a manifest is that of this run's item ``key`` of ``stage``."""
    metadata = state.get("metadata") if isinstance(state.get("metadata"), dict) else {}
    assert isinstance(metadata, dict)
    return (state["pipeline_id"], state["stage"], metadata.get("key", key)) == (
        pipeline_id,
        stage,
        key,
    )


def load_item(run: RunTracker, manager: CheckpointManager | None, stage: str, key: str) -> Any:
    """See :meth:`checkpointing.Pipeline.load`."""
    if manager is None:
        raise RuntimeError("checkpoints are disabled: there is nothing to load")
    validate_name(stage, what="stage")
    validate_name(key, what="item key")
    entry = _latest_entry(run, stage, key)
    if entry is not None and not entry.get("checkpoint_ids") and entry.get("cached_from"):
        return _load_cached(manager, stage, entry)
    ids = [] if entry is None else list(entry.get("checkpoint_ids", []))
    if not ids:
        committed = _items.committed(manager.storage, run.pipeline_id, stage, key)
        ids = [] if committed is None else [committed]
    if not ids:
        raise ItemNotFoundError(run.pipeline_id, stage, key)
    loaded = manager.load_checkpoint(ids[-1])
    if not belongs(loaded["state"], run.pipeline_id, stage, key):
        path = manager.storage.path(f"{ids[-1]}.json")
        raise IntegrityError(ids[-1], path, f"it is not item {key!r} of stage {stage!r}")
    return loaded["data"]


def _latest_entry(run: RunTracker, stage: str, key: str) -> dict[str, Any] | None:
    record = run.record_json()
    for entry in reversed([] if record is None else record["stages"]):
        if entry.get("stage") == stage and entry.get("key") == key:
            return dict(entry)
    return None


def _load_cached(manager: CheckpointManager, stage: str, entry: dict[str, Any]) -> Any:
    """The data of a cache hit recorded in the run: an earlier run's checkpoint."""
    checkpoint_id = str(entry["cached_from"])
    loaded = manager.load_checkpoint(checkpoint_id)
    state = loaded["state"]
    fingerprint = state.get("fingerprint") if isinstance(state.get("fingerprint"), dict) else {}
    assert isinstance(fingerprint, dict)
    if state["stage"] != stage or fingerprint.get("sha256") != entry.get("fingerprint"):
        path = manager.storage.path(f"{checkpoint_id}.json")
        raise IntegrityError(checkpoint_id, path, "it is not the cached result recorded")
    return loaded["data"]
