"""The run model: a run, its attempts and their stage executions, as plain frozen data.

Built by :mod:`checkpointing.pipeline._history` from a run's record and events; read by the
command line, the report and the dashboard. Every object has ``to_json()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Attempt", "RunInfo", "StageExecution"]

#: Statuses of a stage execution, in the order the report's legend shows them.
STAGE_STATUSES = ("ran", "restored", "cached", "failed", "running", "interrupted", "not_run")
#: Statuses of an attempt and of a run.
RUN_STATUSES = ("complete", "failed", "running", "interrupted", "unknown")
#: Statuses of an execution that count as done.
DONE_STATUSES = ("ran", "restored", "cached")

Identity = tuple[str, str | None, int | None]


@dataclass(frozen=True)
class StageExecution:
    """One execution of a stage in one attempt.

    Attributes:
        stage: The stage name.
        key: The execution's key (fan-out item), or ``None``.
        occurrence: Which execution of a name without a key (1, 2, ...), or ``None`` with a key.
        parent: The stage it ran inside (nested stages), or ``None``.
        status: ``ran``, ``restored`` (from a checkpoint on resume), ``cached``, ``failed``,
            ``running``, ``interrupted`` (started, never ended: the process died) or
            ``not_run`` (ran in another attempt of the run, not in this one).
        started_at: ISO-8601 time of ``stage_start`` (``None`` when not run).
        finished_at: ISO-8601 time it ended, or ``None``.
        duration_seconds: Wall time of the block, or ``None``.
        cpu_seconds: CPU time of the block's thread, or ``None``.
        rows: Rows of the stage's data, or ``None``.
        checkpoint_ids: Checkpoints it saved, in order.
        restored_from: The checkpoint it was restored from, or ``None``.
        reason: Why it was restored or run again (resumed runs), or ``None``.
        error: ``{"type", "message", "traceback"}`` when it failed (traceback may be ``None``).
        quality: The ``data_quality_check`` metrics it reported, in order.
        spans: Its ``s.span()`` records (``name``, ``index``, ``parent``, ``start_seconds``,
            ``duration_seconds``, ``error_type``), in the order they were entered.
    """

    stage: str
    key: str | None = None
    occurrence: int | None = 1
    parent: str | None = None
    status: str = "not_run"
    started_at: str | None = None
    finished_at: str | None = None
    duration_seconds: float | None = None
    cpu_seconds: float | None = None
    rows: int | None = None
    checkpoint_ids: tuple[str, ...] = ()
    restored_from: str | None = None
    reason: str | None = None
    error: dict[str, Any] | None = None
    quality: tuple[dict[str, Any], ...] = ()
    spans: tuple[dict[str, Any], ...] = ()

    @property
    def label(self) -> str:
        """``stage``, ``stage[key]`` or ``stage#2`` (second execution without a key)."""
        if self.key is not None:
            return f"{self.stage}[{self.key}]"
        if self.occurrence not in (None, 1):
            return f"{self.stage}#{self.occurrence}"
        return self.stage

    @property
    def identity(self) -> Identity:
        """``(stage, key, occurrence)``: the same in every attempt of the run."""
        return (self.stage, self.key, None if self.key is not None else self.occurrence)

    def to_json(self) -> dict[str, Any]:
        """The execution as a JSON-serialisable dict (``label`` included)."""
        return {
            "stage": self.stage,
            "key": self.key,
            "occurrence": self.occurrence,
            "label": self.label,
            "parent": self.parent,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_seconds": self.duration_seconds,
            "cpu_seconds": self.cpu_seconds,
            "rows": self.rows,
            "checkpoint_ids": list(self.checkpoint_ids),
            "restored_from": self.restored_from,
            "reason": self.reason,
            "error": self.error,
            "quality": list(self.quality),
            "spans": list(self.spans),
        }


@dataclass(frozen=True)
class Attempt:
    """One start of a run: the first, or a resume.

    Attributes:
        number: 1 for the first start, 2 for the first resume, ...
        status: ``complete``, ``failed``, ``running``, ``interrupted`` (ended without saying
            so: the process died) or ``unknown``.
        started_at: ISO-8601 time of its first event.
        finished_at: ISO-8601 time of ``pipeline_complete`` (or its last event), or ``None``.
        duration_seconds: How long it ran, or ``None``.
        resumed: Whether it continued an earlier attempt.
        reason: Which run it continued, or why it started anew.
        config: The configuration the pipeline reported when it started.
        error: ``{"type", "message"}`` of the failure that ended it, or ``None``.
        executions: Every stage execution, in the order they started, then those not run.
        event_count: How many events it logged.
    """

    number: int
    status: str
    started_at: str | None
    finished_at: str | None
    duration_seconds: float | None
    resumed: bool = False
    reason: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    executions: tuple[StageExecution, ...] = ()
    event_count: int = 0

    def to_json(self) -> dict[str, Any]:
        """The attempt as a JSON-serialisable dict."""
        return {
            "number": self.number,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_seconds": self.duration_seconds,
            "resumed": self.resumed,
            "reason": self.reason,
            "config": self.config,
            "error": self.error,
            "event_count": self.event_count,
            "executions": [e.to_json() for e in self.executions],
        }


@dataclass(frozen=True)
class RunInfo:
    """A run as a person asks about it: status, timing, attempts and their stage executions.

    Attributes:
        pipeline_id: The run's id.
        name: The pipeline name.
        status: ``complete``, ``failed``, ``running`` (a live process owns it),
            ``interrupted`` (its record says running but no process owns it) or ``unknown``.
        started_at: ISO-8601 time the run first started.
        finished_at: ISO-8601 time it last ended, or ``None``.
        duration_seconds: Time spent running, summed over attempts (waiting between a failure
            and the resume is not counted), or ``None``.
        attempts: The attempts, oldest first (empty when no event was found).
        stages_done: Stage executions (by stage, key or occurrence) whose latest execution ran,
            was restored or was cached.
        stages_total: Distinct stage executions seen in any attempt or in the record.
        error: ``{"type", "message", "stage"}`` of the failure that ended the run, or ``None``.
        host: Host of the process that last owned the run ("" when unknown).
        pid: Its process id (0 when unknown).
        has_record: Whether ``runs/<pipeline_id>.json`` exists (runs without checkpoints have
            only events).
    """

    pipeline_id: str
    name: str
    status: str
    started_at: str | None
    finished_at: str | None
    duration_seconds: float | None
    attempts: tuple[Attempt, ...]
    stages_done: int
    stages_total: int
    error: dict[str, Any] | None = None
    host: str = ""
    pid: int = 0
    has_record: bool = True

    @property
    def last_attempt(self) -> Attempt | None:
        """The latest attempt, or ``None``."""
        return self.attempts[-1] if self.attempts else None

    def to_json(self, *, executions: bool = True) -> dict[str, Any]:
        """The run as a JSON-serialisable dict (``executions=False``: attempts without them)."""
        attempts = [a.to_json() for a in self.attempts]
        if not executions:
            for attempt in attempts:
                del attempt["executions"]
        return {
            "pipeline_id": self.pipeline_id,
            "name": self.name,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_seconds": self.duration_seconds,
            "attempt_count": len(self.attempts),
            "stages_done": self.stages_done,
            "stages_total": self.stages_total,
            "error": self.error,
            "host": self.host,
            "pid": self.pid,
            "has_record": self.has_record,
            "attempts": attempts,
        }
