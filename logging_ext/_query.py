"""Reading events back from ``events/events.log`` and its dated rotations, and summarising them."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from logging_ext._formatter import iso_timestamp

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["event_files", "read_events", "split_attempts", "summarize_events"]

EVENTS_SUBDIR = "events"
EVENTS_FILE = "events.log"

_TS_PREFIX = '{"timestamp": "'
_TS_START = len(_TS_PREFIX)
_TS_END = _TS_START + len("2025-10-07T20:43:53.622629+00:00")


def _epoch(moment: dt.datetime | float | None) -> float | None:
    if moment is None or isinstance(moment, float | int):
        return moment
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return moment.timestamp()


def event_files(log_dir: str | Path, *, since: dt.datetime | float | None = None) -> list[Path]:
    """Return the event files of ``log_dir`` oldest first: dated rotations, then the active file.

    Rotated files last modified before ``since`` hold no event at or after it and are left out.
    """
    directory = Path(log_dir) / EVENTS_SUBDIR
    floor = _epoch(since)
    try:
        entries = sorted(
            p for p in directory.iterdir() if p.name.startswith(EVENTS_FILE + ".") and p.is_file()
        )
    except FileNotFoundError:
        return []
    files: list[Path] = []
    for path in entries:
        if floor is not None:
            try:
                if path.stat().st_mtime < floor:
                    continue
            except FileNotFoundError:
                continue
        files.append(path)
    files.append(directory / EVENTS_FILE)
    return files


def read_events(
    log_dir: str | Path,
    *,
    pipeline_id: str | None = None,
    event_type: str | None = None,
    since: dt.datetime | float | None = None,
    until: dt.datetime | float | None = None,
) -> list[dict[str, Any]]:
    """Return the events of ``log_dir`` matching every given filter, oldest first.

    Reads ``events/events.log`` and its rotated files, skipping rotated files wholly before
    ``since``. Lines are pre-filtered with a substring search for the exact JSON text the
    formatter writes (``"pipeline_id": "<id>"``) and only candidates are parsed; the parsed
    values are then checked, so the result is exact. Lines that are not JSON objects (a file
    written by something else) are skipped. Safe to call while other processes write.

    Args:
        log_dir: The directory given to ``PipelineLogger``.
        pipeline_id: Keep only this pipeline's events.
        event_type: Keep only events of this type.
        since: Keep events at or after this moment (aware datetime, naive = local, or epoch).
        until: Keep events before this moment.

    Returns:
        The events as dicts (the JSON objects of the lines), sorted by timestamp.
    """
    since_epoch, until_epoch = _epoch(since), _epoch(until)
    needles = [
        f'"{key}": {json.dumps(value)}'
        for key, value in (("pipeline_id", pipeline_id), ("event_type", event_type))
        if value is not None
    ]
    low = iso_timestamp(since_epoch) if since_epoch is not None else None
    high = iso_timestamp(until_epoch) if until_epoch is not None else None
    events: list[dict[str, Any]] = []
    for path in event_files(log_dir, since=since_epoch):
        try:
            text = path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            continue
        for line in _candidates(text, needles):
            if (low is not None or high is not None) and line.startswith(_TS_PREFIX):
                stamp = line[_TS_START:_TS_END]
                if stamp.endswith("+00:00"):
                    if (low is not None and stamp < low) or (high is not None and stamp >= high):
                        continue
                elif not _within(stamp, since_epoch, until_epoch):
                    continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if (
                isinstance(event, dict)
                and (pipeline_id is None or event.get("pipeline_id") == pipeline_id)
                and (event_type is None or event.get("event_type") == event_type)
            ):
                events.append(event)
    events.sort(key=lambda e: str(e.get("timestamp", "")))
    return events


def _candidates(text: str, needles: list[str]) -> Iterator[str]:
    """Yield the lines of ``text`` containing every needle (all lines without needles).

    Jumps from one occurrence of the first needle to the next with ``str.find``, so lines
    without it cost nothing in Python.
    """
    if not needles:
        yield from text.splitlines()
        return
    first, rest = needles[0], needles[1:]
    position = 0
    while (found := text.find(first, position)) >= 0:
        start = text.rfind("\n", 0, found) + 1
        end = text.find("\n", found)
        if end < 0:
            end = len(text)
        position = end + 1
        line = text[start:end]
        if all(needle in line for needle in rest):
            yield line


def _within(stamp: str, since: float | None, until: float | None) -> bool:
    try:
        moment = dt.datetime.fromisoformat(stamp.split('"', maxsplit=1)[0]).timestamp()
    except ValueError:
        return True
    return (since is None or moment >= since) and (until is None or moment < until)


def _parse(stamp: object) -> dt.datetime | None:
    if not isinstance(stamp, str):
        return None
    try:
        return dt.datetime.fromisoformat(stamp)
    except ValueError:
        return None


def split_attempts(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Split one run's events (oldest first) into its attempts, at each ``pipeline_start``.

    A resumed run keeps its ``pipeline_id``, so its events hold every attempt; each
    ``pipeline_start`` opens one. Events before the first one form an attempt of their own.
    """
    attempts: list[list[dict[str, Any]]] = []
    for event in events:
        if event.get("event_type") == "pipeline_start" or not attempts:
            attempts.append([])
        attempts[-1].append(event)
    return attempts


def summarize_events(
    pipeline_id: str, events: list[dict[str, Any]], *, attempt: int | None = None
) -> dict[str, Any]:
    """Summarise one attempt of a run (the latest by default) as ``get_pipeline_summary`` does.

    A resumed run's events hold all its attempts (see :func:`split_attempts`); only the chosen
    attempt's events are summarised, so statuses, durations and errors of attempts are never
    mixed. ``attempt`` is the attempt's number (1 = the first start); ``attempts`` counts them.

    Keys: ``pipeline_id``, ``attempt``, ``attempts``, ``total_events``, ``event_counts`` (per
    type), ``stages_started``
    and ``stages_completed`` (in order, each once), ``stages_failed``, ``errors`` (dicts with
    ``stage``, ``error``, ``error_type``, ``timestamp``), ``warnings`` (dicts with ``stage``,
    ``event_type``, ``metadata``, ``timestamp``), ``checkpoints`` (ids in order),
    ``stage_durations`` (seconds per stage, from ``performance_metric``), ``started_at``,
    ``finished_at``, ``duration_seconds`` and ``status``: the status of ``pipeline_complete``
    when logged, else ``"failed"`` after an error, ``"running"`` otherwise, ``"unknown"`` when
    there is no event.

    Raises:
        ValueError: There is no attempt ``attempt``.
    """
    attempts = split_attempts(events)
    chosen = len(attempts) if attempt is None else attempt
    if attempts and not 1 <= chosen <= len(attempts):
        msg = f"run {pipeline_id!r} has {len(attempts)} attempt(s), not an attempt {chosen}"
        raise ValueError(msg)
    events = attempts[chosen - 1] if attempts else []
    counts: dict[str, int] = {}
    started: list[Any] = []
    completed: list[Any] = []
    failed: list[Any] = []
    errors: list[dict[str, Any]] = []
    warnings: list[dict[str, Any]] = []
    checkpoints: list[str] = []
    durations: dict[str, float] = {}
    final_status: str | None = None
    finished_at: str | None = None
    for event in events:
        kind = str(event.get("event_type"))
        stage = event.get("stage")
        status = event.get("status")
        metadata = event.get("metadata") if isinstance(event.get("metadata"), dict) else {}
        assert isinstance(metadata, dict)
        counts[kind] = counts.get(kind, 0) + 1
        if kind == "stage_start" and stage not in started:
            started.append(stage)
        elif kind == "stage_complete" and stage not in completed:
            completed.append(stage)
        elif kind == "checkpoint_saved" and metadata.get("checkpoint_id") is not None:
            checkpoints.append(metadata["checkpoint_id"])
        elif kind == "performance_metric" and isinstance(
            metadata.get("duration_seconds"), int | float
        ):
            durations[str(stage)] = float(metadata["duration_seconds"])
        elif kind == "pipeline_complete":
            final_status = str(status)
            finished_at = event.get("timestamp")
        if status == "error" and kind != "pipeline_complete":
            if stage is not None and stage not in failed:
                failed.append(stage)
            errors.append(
                {
                    "stage": stage,
                    "event_type": kind,
                    "error": metadata.get("error"),
                    "error_type": metadata.get("error_type"),
                    "timestamp": event.get("timestamp"),
                }
            )
        elif status == "warning" and kind != "pipeline_complete":
            warnings.append(
                {
                    "stage": stage,
                    "event_type": kind,
                    "metadata": metadata,
                    "timestamp": event.get("timestamp"),
                }
            )
    started_at = events[0].get("timestamp") if events else None
    if finished_at is None and events:
        finished_at = events[-1].get("timestamp")
    first, last = _parse(started_at), _parse(finished_at)
    if final_status is None:
        final_status = "unknown" if not events else ("failed" if errors else "running")
    return {
        "pipeline_id": pipeline_id,
        "attempt": chosen if attempts else None,
        "attempts": len(attempts),
        "status": final_status,
        "total_events": len(events),
        "event_counts": counts,
        "stages_started": started,
        "stages_completed": completed,
        "stages_failed": failed,
        "errors": errors,
        "warnings": warnings,
        "checkpoints": checkpoints,
        "stage_durations": durations,
        "started_at": started_at,
        "finished_at": finished_at,
        "duration_seconds": (last - first).total_seconds() if first and last else None,
    }
