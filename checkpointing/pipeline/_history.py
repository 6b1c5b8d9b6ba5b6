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

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from checkpointing.pipeline._run_model import (
    DONE_STATUSES,
    Attempt,
    Identity,
    RunInfo,
    StageExecution,
)
from logging_ext import split_attempts

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from checkpointing.pipeline._runs import RunRecord

__all__: list[str] = []

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


def _spans(value: object) -> tuple[dict[str, Any], ...]:
    """The well-formed span records of a ``spans`` field (anything else is left out)."""
    if not isinstance(value, list):
        return ()
    spans = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        start = _number(item.get("start_seconds"))
        spans.append(
            {
                "name": item["name"],
                "index": _int(item.get("index")),
                "parent": _int(item.get("parent")),
                "start_seconds": 0.0 if start is None else start,
                "duration_seconds": _number(item.get("duration_seconds")),
                "error_type": _text(item.get("error_type")),
            }
        )
    return tuple(spans)


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
        fields["spans"] = _spans(metadata.get("spans"))
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
            fields["restored_from"] = _text(metadata.get("restored_from"))
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
    done = sum(1 for status in latest.values() if status in DONE_STATUSES)
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
