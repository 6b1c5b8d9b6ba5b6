"""The driver's side of each finished fan-out task: logs, checks, counts, cache entries.

When a task completes, its item's events and log records are written to the run's logs in the
order they happened on the worker; an item whose committed checkpoint the driver cannot see is
failed; a success is counted for the run record (and, with ``cache=True``, becomes the cached
result of its fingerprint); a failure keeps its worker's traceback. Nothing here raises.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from checkpointing._errors import CheckpointNotFoundError
from checkpointing.pipeline import _cache
from checkpointing.pipeline._map_logs import replay
from checkpointing.pipeline._map_worker import RemoteTraceback
from checkpointing.pipeline._run import describe_error

if TYPE_CHECKING:
    from checkpointing.pipeline._cache import CacheIndex
    from checkpointing.pipeline._events import EventLog
    from checkpointing.pipeline._fingerprint import Fingerprint
    from checkpointing.pipeline._map_worker import ItemOutcome, MapTask
    from checkpointing.pipeline._run import StageIdentity
    from checkpointing.store._manager import CheckpointManager

__all__: list[str] = []

_log = logging.getLogger("checkpointing.pipeline")


@dataclass
class Plan:
    """The items of one fan-out: keys, identities, fingerprints (``None`` without ``cache``),
    and the indexes whose cache entry the new result replaces (unusable, or a forced rerun)."""

    keys: list[str]
    identities: list[StageIdentity]
    fps: list[Fingerprint | None]
    replace: set[int] = field(default_factory=set)


@dataclass
class Tally:
    """What happened to the items of one fan-out so far, and what the run record still lacks."""

    total: int
    done: int = 0
    restored: int = 0
    rows: int = 0
    failed: list[int] = field(default_factory=list)
    first_error: BaseException | None = None
    completed: list[tuple[StageIdentity, dict[str, Any]]] = field(default_factory=list)
    errors: list[tuple[StageIdentity, BaseException]] = field(default_factory=list)

    def fail(self, index: int, identity: StageIdentity, error: BaseException) -> None:
        """Count a failed item."""
        self.failed.append(index)
        self.errors.append((identity, error))
        if self.first_error is None:
            self.first_error = error


class Outcomes:
    """Handles each finished task of the fan-outs of one run.

    Args:
        events: Where events go.
        manager: The checkpoint store, or ``None`` when checkpoints are disabled.
        cache: The cross-run cache, or ``None``.
    """

    def __init__(
        self, events: EventLog, manager: CheckpointManager | None, cache: CacheIndex | None
    ) -> None:
        self._events = events
        self._manager = manager
        self._cache = cache

    def finish(
        self,
        task: MapTask,
        plan: Plan,
        index: int,
        outcome: ItemOutcome | None,
        *,
        lost: BaseException | None,
        tally: Tally,
    ) -> bool:
        """Log and count what one task produced (``lost``: the executor lost it); whether the
        item succeeded."""
        identity = plan.identities[index]
        error = lost
        if outcome is not None:
            error = outcome.error
            if error is not None and outcome.traceback and error.__traceback__ is None:
                # It came from another process without its traceback: chain the worker's text.
                error.__cause__ = RemoteTraceback(outcome.traceback)
            self._replay(task, outcome, error)
            if error is None:
                error = lost = self._check_visible(outcome)
        if error is not None:
            tally.fail(index, identity, error)
            if lost is not None:  # seen by the driver only: the worker could not report it
                self._lost(task, plan.keys[index], lost, executor_lost=outcome is None)
            return False
        assert outcome is not None
        tally.done += 1
        tally.rows += outcome.rows or 0
        if outcome.checkpoint_id is not None:
            fp = plan.fps[index]
            fields: dict[str, Any] = {"checkpoint_ids": [outcome.checkpoint_id]}
            if fp is not None:
                fields["fingerprint"] = fp.sha256
                self._cache_result(task, fp, outcome, replace=index in plan.replace)
            tally.completed.append((identity, fields))
        return True

    def _lost(self, task: MapTask, key: str, error: BaseException, *, executor_lost: bool) -> None:
        details = describe_error(error)
        metadata = {"error_type": details["type"], "error": details["message"], "key": key}
        if executor_lost:
            metadata["reason"] = "the executor lost the task (a worker died, or a cancel)"
        self._events.event(
            "stage_error", task.pipeline_id, task.stage, "error", metadata, exc_info=error
        )

    def _check_visible(self, outcome: ItemOutcome) -> BaseException | None:
        """An error if the item's checkpoint, committed by its worker, is not in our store."""
        if self._manager is None or outcome.checkpoint_id is None:
            return None
        try:
            self._manager.get_state(outcome.checkpoint_id)
        except CheckpointNotFoundError as error:
            error.add_note(
                f"item {outcome.key!r} was committed by process {outcome.pid}, but its "
                f"checkpoint is not in {self._manager.location} as this process sees it: "
                "every worker must reach the checkpoint directory at the same path"
            )
            return error
        return None

    def _cache_result(
        self, task: MapTask, fp: Fingerprint, outcome: ItemOutcome, *, replace: bool
    ) -> None:
        """Make the item's checkpoint the cached result of its fingerprint (never raises)."""
        if self._cache is None or outcome.checkpoint_id is None:
            return
        entry = _cache.make_entry(fp, outcome.checkpoint_id, task.pipeline_id, outcome.key)
        try:
            self._cache.commit(fp.sha256, entry, replace=replace)
            self._cache.remember_latest(task.stage, outcome.key, entry)
        except Exception:  # the cache only saves work: failing to fill it fails no item
            _log.warning("could not record item %s in the cache", outcome.key, exc_info=True)

    def _replay(self, task: MapTask, outcome: ItemOutcome, error: BaseException | None) -> None:
        """Write an item's events and records to the run's logs, in the order they happened."""
        timeline: list[tuple[float, int, dict[str, Any]]] = [
            (float(e["created"]), 0, e) for e in outcome.events
        ]
        timeline += [(float(r.get("created", 0.0)), 1, r) for r in outcome.records]
        timeline.sort(key=lambda entry: (entry[0], entry[1]))
        for created, kind, entry in timeline:
            if kind == 1:
                replay([entry])
                continue
            self._events.event(
                entry["event_type"],
                task.pipeline_id,
                task.stage,
                entry["status"],
                entry["metadata"],
                exc_info=error if entry["event_type"] == "stage_error" else None,
                created=created,
            )
