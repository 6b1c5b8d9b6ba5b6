"""The run model: what ran in a run, attempt by attempt, built from its record and its events.

A run (one ``pipeline_id``) has one or more attempts: the first start and each resume. Every
``pipeline_start`` event opens an attempt; the stage events that follow it belong to it. Each
``stage_start`` opens a :class:`StageExecution` that the matching ``stage_complete`` or
``stage_error`` (same stage name and key or occurrence) closes. Stages that ran in some attempt
of the run but not in this one are listed with status ``not_run``, so every attempt shows the
whole run.

This module only interprets; :mod:`checkpointing.pipeline._run_query` reads the files.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from logging_ext import split_attempts

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from checkpointing.pipeline._runs import RunRecord

__all__ = ["Attempt", "RunInfo", "StageExecution"]

#: Statuses of a stage execution, in the order the report's legend shows them.
STAGE_STATUSES = ("ran", "restored", "cached", "failed", "running", "interrupted", "not_run")
#: Statuses of an attempt and of a run.
RUN_STATUSES = ("complete", "failed", "running", "interrupted", "unknown")
_DONE = ("ran", "restored", "cached")

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


# -- building ----------------------------------------------------------------------------------


def _metadata(event: Mapping[str, Any]) -> dict[str, Any]:
    metadata = event.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _identity(stage: str, metadata: Mapping[str, Any]) -> Identity:
    key = metadata.get("key")
    if isinstance(key, str):
        return (stage, key, None)
    occurrence = _int(metadata.get("occurrence"))
    return (stage, None, occurrence if occurrence is not None else 1)


def seconds_between(start: str | None, end: str | None) -> float | None:
    """Seconds from ``start`` to ``end`` (ISO-8601), or ``None`` when either is unreadable."""
    if start is None or end is None:
        return None
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except (TypeError, ValueError):
        return None


class _Open:
    """A stage execution being assembled from its events."""

    def __init__(self, stage: str, identity: Identity, event: Mapping[str, Any]) -> None:
        metadata = _metadata(event)
        self.fields: dict[str, Any] = {
            "stage": stage,
            "key": identity[1],
            "occurrence": identity[2],
            "parent": _text(metadata.get("parent_stage")),
            "status": "running",
            "started_at": _text(event.get("timestamp")),
        }
        self.quality: list[dict[str, Any]] = []

    def end(self, event: Mapping[str, Any], tracebacks: Mapping[tuple[str, str], str]) -> None:
        metadata = _metadata(event)
        fields = self.fields
        fields["finished_at"] = _text(event.get("timestamp"))
        fields["duration_seconds"] = _number(metadata.get("duration_seconds"))
        fields["cpu_seconds"] = _number(metadata.get("cpu_seconds"))
        fields["rows"] = _int(metadata.get("rows"))
        ids = metadata.get("checkpoint_ids")
        if isinstance(ids, list):
            fields["checkpoint_ids"] = tuple(i for i in ids if isinstance(i, str))
        if isinstance(metadata.get("reason"), str):
            fields["reason"] = metadata["reason"]
        if event.get("event_type") == "stage_error":
            fields["status"] = "failed"
            stamp = str(event.get("timestamp"))
            fields["error"] = {
                "type": _text(metadata.get("error_type")),
                "message": _text(metadata.get("error")),
                "traceback": tracebacks.get((fields["stage"], stamp)),
            }
        elif metadata.get("cached"):
            fields["status"] = "cached"
        elif metadata.get("restored"):
            fields["status"] = "restored"
            fields["restored_from"] = _text(metadata.get("restored_from"))
        else:
            fields["status"] = "ran"

    def build(self, *, unfinished: str) -> StageExecution:
        if self.fields["status"] == "running":
            self.fields["status"] = unfinished
        return StageExecution(**self.fields, quality=tuple(self.quality))


def _attempt(
    number: int,
    events: Sequence[Mapping[str, Any]],
    *,
    last: bool,
    live: bool,
    tracebacks: Mapping[tuple[str, str], str],
) -> tuple[Attempt, list[_Open]]:
    opened: dict[Identity, list[_Open]] = {}
    latest_of_stage: dict[str, _Open] = {}
    order: list[_Open] = []
    start = events[0] if events[0].get("event_type") == "pipeline_start" else {}
    start_md = _metadata(start)
    status: str | None = None
    error: dict[str, Any] | None = None
    finished_at: str | None = None
    duration: float | None = None
    for event in events:
        kind = event.get("event_type")
        stage = event.get("stage")
        metadata = _metadata(event)
        if kind == "pipeline_complete":
            status = "complete" if event.get("status") == "success" else "failed"
            finished_at = _text(event.get("timestamp"))
            duration = _number(metadata.get("duration_seconds"))
            if status == "failed":
                error = {"type": metadata.get("error_type"), "message": metadata.get("error")}
            continue
        if not isinstance(stage, str):
            continue
        identity = _identity(stage, metadata)
        if kind == "stage_start":
            execution = _Open(stage, identity, event)
            opened.setdefault(identity, []).append(execution)
            latest_of_stage[stage] = execution
            order.append(execution)
        elif kind in ("stage_complete", "stage_error") and opened.get(identity):
            opened[identity].pop(0).end(event, tracebacks)
        elif kind == "data_quality_check" and stage in latest_of_stage:
            latest_of_stage[stage].quality.append(metadata)
    if status is None:
        failed = any(o.fields["status"] == "failed" for o in order)
        status = "running" if last and live else ("failed" if failed else "interrupted")
    started_at = _text(events[0].get("timestamp"))
    if finished_at is None and status != "running":
        finished_at = _text(events[-1].get("timestamp"))
    if duration is None:
        duration = seconds_between(started_at, finished_at)
    attempt = Attempt(
        number=_int(start_md.get("attempt")) or number,
        status=status,
        started_at=started_at,
        finished_at=finished_at,
        duration_seconds=duration,
        resumed=bool(start_md.get("resumed")),
        reason=_text(start_md.get("reason")),
        config={k: v for k, v in start_md.items() if k not in ("resumed", "reason", "attempt")},
        error=error,
        event_count=len(events),
    )
    return attempt, order


def build_run(
    pipeline_id: str,
    events: Sequence[Mapping[str, Any]],
    *,
    record: RunRecord | None,
    live: bool,
    tracebacks: Mapping[tuple[str, str], str] | None = None,
) -> RunInfo:
    """Assemble a :class:`RunInfo` from a run's record (if any) and its events (oldest first).

    Args:
        pipeline_id: The run.
        events: Its events, oldest first (any other pipeline's are ignored).
        record: Its run record, or ``None`` (runs without checkpoints have none).
        live: Whether a live process owns the run now.
        tracebacks: Tracebacks of failed stages by ``(stage, timestamp of stage_error)``.
    """
    mine = [dict(e) for e in events if e.get("pipeline_id") == pipeline_id]
    segments = split_attempts(mine)
    attempts: list[Attempt] = []
    executions: list[list[StageExecution]] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        attempt, opened = _attempt(
            index + 1, segment, last=last, live=live, tracebacks=tracebacks or {}
        )
        unfinished = "running" if last and live else "interrupted"
        attempts.append(attempt)
        executions.append([o.build(unfinished=unfinished) for o in opened])
    # Every identity the run knows, in order of first appearance (events, then the record).
    known: dict[Identity, StageExecution] = {}
    for found in executions:
        for execution in found:
            known.setdefault(execution.identity, execution)
    for entry in record.stages if record is not None else []:
        stage = str(entry.get("stage"))
        identity = _identity(stage, entry)
        known.setdefault(identity, StageExecution(stage, identity[1], identity[2]))
    latest: dict[Identity, str] = {}
    for index, found in enumerate(executions):
        for execution in found:
            latest[execution.identity] = execution.status
        attempts[index] = replace(attempts[index], executions=_with_not_run(found, known))
    return _run_info(
        pipeline_id, mine, attempts, record=record, live=live, latest=latest, total=len(known)
    )


def _with_not_run(
    found: list[StageExecution], known: Mapping[Identity, StageExecution]
) -> tuple[StageExecution, ...]:
    """``found`` plus a ``not_run`` execution for every known identity it lacks, each placed
    after the execution that preceded it where it was first seen."""
    seen = {e.identity for e in found}
    after: dict[Identity | None, list[StageExecution]] = {}
    previous: Identity | None = None
    for identity, first in known.items():
        if identity in seen:
            previous = identity
        else:
            missing = StageExecution(identity[0], identity[1], identity[2], parent=first.parent)
            after.setdefault(previous, []).append(missing)
    if not after:
        return tuple(found)
    result = list(after.get(None, []))
    for execution in found:
        result.append(execution)
        result.extend(after.pop(execution.identity, []))
    return tuple(result)


def _run_info(
    pipeline_id: str,
    events: Sequence[Mapping[str, Any]],
    attempts: list[Attempt],
    *,
    record: RunRecord | None,
    live: bool,
    latest: Mapping[Identity, str],
    total: int,
) -> RunInfo:
    done = sum(1 for status in latest.values() if status in _DONE)
    duration = None
    if attempts and any(a.duration_seconds is not None for a in attempts):
        duration = sum(a.duration_seconds or 0.0 for a in attempts)
    first = _metadata(events[0]) if events else {}
    if record is not None:
        status: str = record.status
        if status == "running":
            status = "running" if live else "interrupted"
        return RunInfo(
            pipeline_id=pipeline_id,
            name=record.name,
            status=status,
            started_at=record.started_at or (attempts[0].started_at if attempts else None),
            finished_at=record.finished_at,
            duration_seconds=duration,
            attempts=tuple(attempts),
            stages_done=done,
            stages_total=total,
            error=record.error,
            host=record.host,
            pid=record.pid,
        )
    last = attempts[-1] if attempts else None
    error = None
    if last is not None and last.error is not None:
        error = dict(last.error) | {"stage": None}
    return RunInfo(
        pipeline_id=pipeline_id,
        name=_text(first.get("name")) or name_of(pipeline_id),
        status=last.status if last is not None else "unknown",
        started_at=attempts[0].started_at if attempts else None,
        finished_at=last.finished_at if last is not None else None,
        duration_seconds=duration,
        attempts=tuple(attempts),
        stages_done=done,
        stages_total=total,
        error=error,
        has_record=False,
    )


def name_of(pipeline_id: str) -> str:
    """The pipeline name inside ``<name>_<YYYYmmdd>_<HHMMSS>_<suffix>`` (the id if it has none)."""
    parts = pipeline_id.rsplit("_", 3)
    return parts[0] if len(parts) == 4 else pipeline_id
