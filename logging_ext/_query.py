"""Reading events back from ``events/events.log`` and its dated rotations, and summarising them."""

from __future__ import annotations

import datetime as dt
import gc
import json
import operator
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from logging_ext._formatter import iso_timestamp

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["event_files", "read_events", "split_attempts", "summarize_events"]

EVENTS_SUBDIR = "events"
EVENTS_FILE = "events.log"

_TS_PREFIX = b'{"timestamp": "'
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
    ``since``. Lines are pre-filtered on their raw bytes, before any decoding: a substring
    search for the exact JSON text the formatter writes (``"pipeline_id": "<id>"``,
    ``"event_type": "<type>"``) and a byte comparison of the leading timestamp with the
    window; only candidates are decoded and parsed, and the parsed values are then checked,
    so the result is exact. Lines that are not JSON objects (a file written by something
    else) are skipped. Safe to call while other processes write.

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
        f'"{key}": {json.dumps(value)}'.encode("ascii")  # json.dumps escapes non-ASCII
        for key, value in (("pipeline_id", pipeline_id), ("event_type", event_type))
        if value is not None
    ]
    window = _Window(since_epoch, until_epoch)
    events: list[dict[str, Any]] = []
    collecting = gc.isenabled()
    gc.disable()  # nothing here makes cycles; collections over the growing result cost ~20%
    try:
        for path in event_files(log_dir, since=since_epoch):
            for data, end in _chunks(path):
                for event in _parsed(_candidates(data, end, needles), window):
                    if (pipeline_id is None or event.get("pipeline_id") == pipeline_id) and (
                        event_type is None or event.get("event_type") == event_type
                    ):
                        events.append(event)  # noqa: PERF401 - two conditions read better
    finally:
        if collecting:
            gc.enable()
    try:
        events.sort(key=operator.itemgetter("timestamp"))
    except (KeyError, TypeError):  # a line of another layout: compare what there is
        events.sort(key=lambda e: str(e.get("timestamp", "")))
    return events


_CHUNK = 1 << 20


def _chunks(path: Path) -> Iterator[tuple[bytes, int]]:
    """Yield ``(data, end)``: the file read in pieces of about 1 MiB, cut after a newline.

    ``data[:end]`` holds whole lines only (the rest is read again with the next piece); the
    last piece ends where the file does. Pieces keep the memory small and the bytes in cache
    while they are searched. A file that disappears yields nothing.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return
    try:
        offset, size = 0, _CHUNK
        while data := os.pread(fd, size, offset):
            end = data.rfind(b"\n") + 1 if len(data) == size else len(data)
            if end == 0:  # one line longer than the piece: read a bigger one
                size *= 2
                continue
            yield data, end
            offset, size = offset + end, _CHUNK
    finally:
        os.close(fd)


# The scanner json.loads uses, called without its wrappers (detect_encoding, two regex matches);
# typeshed does not declare the decoder's scan_once attribute.
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _parsed(lines: list[bytes], window: _Window) -> list[dict[str, Any]]:
    """The JSON objects of ``lines`` whose timestamp may fall in ``window``.

    A line is decoded (invalid UTF-8 replaced) and parsed only after the byte comparison of
    its timestamp; a line that is not exactly one JSON object is skipped.
    """
    checked = window.active
    low = window.low or b""  # nothing sorts before b"", no ASCII timestamp after b"\xff"
    high = window.high or b"\xff"
    objects: list[dict[str, Any]] = []
    keep, scan = objects.append, _scan
    for line in lines:
        if checked and line.startswith(_TS_PREFIX):
            stamp = line[_TS_START:_TS_END]
            if stamp.endswith(b"+00:00"):
                if stamp < low or stamp >= high:
                    continue
            elif not window.may_hold(line):
                continue
        text = line.decode("utf-8", "replace")
        try:
            value, end = scan(text, 0)
        except (StopIteration, ValueError):
            continue
        if isinstance(value, dict) and (end == len(text) or not text[end:].strip()):
            keep(value)
    return objects


def _candidates(data: bytes, end: int, needles: list[bytes]) -> list[bytes]:
    """Return the lines of ``data[:end]`` containing every needle (all lines without needles).

    Works on the raw bytes: jumps from one occurrence of the first needle to the next with
    ``bytes.find``, so lines without it cost nothing in Python and are never decoded.
    """
    if not needles:
        return [line for line in data[:end].split(b"\n") if line]
    first, rest = needles[0], needles[1:]
    lines: list[bytes] = []
    position = 0
    find, rfind = data.find, data.rfind
    while (found := find(first, position, end)) >= 0:
        start = rfind(b"\n", 0, found) + 1
        stop = find(b"\n", found, end)
        if stop < 0:
            stop = end
        position = stop + 1
        line = data[start:stop]
        if not rest or all(needle in line for needle in rest):
            lines.append(line)
    return lines


class _Window:
    """The time filter of a query, applied to a line's raw leading timestamp before parsing.

    Lines start with ``{"timestamp": "<ISO 8601 in UTC>"``, and such strings sort in time
    order, so a byte comparison decides; a line laid out otherwise is kept for parsing (a
    pre-filter may only skip lines that cannot match).
    """

    def __init__(self, since: float | None, until: float | None) -> None:
        self.since, self.until = since, until
        self.low = iso_timestamp(since).encode() if since is not None else None
        self.high = iso_timestamp(until).encode() if until is not None else None
        self.active = since is not None or until is not None

    def may_hold(self, line: bytes) -> bool:
        """False only for a line whose timestamp is outside the window."""
        if not line.startswith(_TS_PREFIX):
            return True
        stamp = line[_TS_START:_TS_END]
        if stamp.endswith(b"+00:00"):
            low, high = self.low, self.high
            return (low is None or stamp >= low) and (high is None or stamp < high)
        text = line[_TS_START : _TS_START + 64].decode("ascii", "replace")
        return _within(text, self.since, self.until)


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
    ``stage_durations`` (seconds per stage, from ``stage_complete`` or ``performance_metric``),
    ``started_at``, ``finished_at``, ``duration_seconds`` and ``status``: the status of
    ``pipeline_complete`` when logged, else ``"failed"`` after an error, ``"running"``
    otherwise, ``"unknown"`` when there is no event.

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
        if kind in ("stage_complete", "performance_metric") and isinstance(
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
