"""Runs as a first-class concept: list runs, read one, accept short id prefixes.

Reads the two sources a run leaves behind and never writes either: the run records
(``<checkpoint_dir>/runs/<pipeline_id>.json`` and the ``.lock`` a live run holds) and the events
(``<log_dir>/events/events.log*``, plus the tracebacks in ``<log_dir>/errors/errors.log*``).
Runs without checkpoints have no record; they are found by their events.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checkpointing._errors import (
    AmbiguousIdError,
    CheckpointNotFoundError,
    RunNotFoundError,
    RunRecordError,
)
from checkpointing.pipeline._history import build_run, name_of
from checkpointing.pipeline._run_model import RUN_STATUSES, RunInfo
from checkpointing.pipeline._runs import RUNS_DIR, RunRecord, RunStore
from checkpointing.storage._names import validate_name
from checkpointing.storage._open import open_storage
from checkpointing.store._manifest import MANIFEST_SUFFIX

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterable, Mapping

    from checkpointing.store._manager import CheckpointManager

__all__ = ["get_run", "list_runs"]

_ERRORS_SUBDIR, _ERRORS_FILE = "errors", "errors.log"


def _store(checkpoint_dir: str | os.PathLike[str] | None) -> RunStore | None:
    if checkpoint_dir is None:
        return None
    return RunStore(open_storage(checkpoint_dir))


def _record_ids(checkpoint_dir: str | os.PathLike[str] | None) -> list[str]:
    if checkpoint_dir is None:
        return []
    names = open_storage(checkpoint_dir).names(RUNS_DIR)
    return [n[: -len(".json")] for n in names if n.endswith(".json")]


def _events(log_dir: str | os.PathLike[str] | None, **filters: Any) -> list[dict[str, Any]]:
    if log_dir is None:
        return []
    from logging_ext import read_events

    return read_events(Path(log_dir), **filters)


def _epoch(moment: datetime | float | None) -> float | None:
    if moment is None or isinstance(moment, int | float):
        return moment
    return (moment if moment.tzinfo else moment.astimezone()).timestamp()


def _is_live(store: RunStore, record: RunRecord) -> bool:
    """Whether a live process owns the run (only asked of records that say ``running``)."""
    if record.status != "running":
        return False
    try:
        return store.is_live(record.pipeline_id)
    except OSError:  # a read-only store: its record is the best we know
        return True


def _read_record(store: RunStore | None, pipeline_id: str) -> RunRecord | None:
    if store is None:
        return None
    try:
        return store.read(pipeline_id)
    except RunNotFoundError:
        return None


def list_runs(
    *,
    checkpoint_dir: str | os.PathLike[str] | None = "data/checkpoints",
    log_dir: str | os.PathLike[str] | None = "logs",
    name: str | None = None,
    status: str | None = None,
    since: datetime | float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[RunInfo]:
    """The runs found in a checkpoint directory and a log directory, newest first.

    A run is found by its record (``<checkpoint_dir>/runs``) or, for runs without checkpoints,
    by its events. Nothing is written: the directories may be read-only.

    Args:
        checkpoint_dir: The pipelines' ``checkpoint_dir`` (``None``: events only).
        log_dir: Their ``log_dir`` (``None``: records only, without stage details).
        name: Only runs of this pipeline name.
        status: Only runs with this status: ``complete``, ``failed``, ``running``,
            ``interrupted`` (its record says running but no process owns it) or ``unknown``.
        since: Only runs started at or after this moment (aware datetime, naive = local time,
            or seconds since the epoch).
        progress: Called as ``progress(done, total)`` run by run (for a progress bar).

    Returns:
        One :class:`RunInfo` per run, sorted by start time, newest first. Records that cannot
        be read are skipped.

    Raises:
        ValueError: ``status`` is not one of the statuses above.
    """
    if status is not None and status not in RUN_STATUSES:
        msg = f"unknown run status {status!r}; choose one of {', '.join(RUN_STATUSES)}"
        raise ValueError(msg)
    floor = _epoch(since)
    store = _store(checkpoint_dir)
    by_run: dict[str, list[dict[str, Any]]] = {}
    for event in _events(log_dir, since=floor):
        pid = event.get("pipeline_id")
        if isinstance(pid, str):
            by_run.setdefault(pid, []).append(event)
    ids = set(_record_ids(checkpoint_dir)) | {
        pid for pid, found in by_run.items() if any(_starts_run(e) for e in found)
    }
    runs: list[RunInfo] = []
    for done, pipeline_id in enumerate(ids):
        if progress is not None:
            progress(done, len(ids))
        try:
            record = _read_record(store, pipeline_id)
        except RunRecordError:
            continue
        if name is not None and (record.name if record else _name(by_run, pipeline_id)) != name:
            continue
        live = store is not None and record is not None and _is_live(store, record)
        run = build_run(pipeline_id, by_run.get(pipeline_id, []), record=record, live=live)
        if status is not None and run.status != status:
            continue
        if floor is not None and not _started_since(run, floor):
            continue
        runs.append(run)
    runs.sort(key=lambda r: (_epoch_of(r.started_at), r.pipeline_id), reverse=True)
    return runs


def _starts_run(event: Mapping[str, Any]) -> bool:
    return event.get("event_type") in ("pipeline_start", "stage_start")


def _name(by_run: Mapping[str, list[dict[str, Any]]], pipeline_id: str) -> str:
    for event in by_run.get(pipeline_id, []):
        metadata = event.get("metadata")
        if event.get("event_type") == "pipeline_start" and isinstance(metadata, dict):
            found = metadata.get("name")
            if isinstance(found, str):
                return found
    return name_of(pipeline_id)


def _epoch_of(stamp: str | None) -> float:
    try:
        return datetime.fromisoformat(stamp).timestamp() if stamp else 0.0
    except ValueError:
        return 0.0


def _started_since(run: RunInfo, floor: float) -> bool:
    return run.started_at is not None and _epoch_of(run.started_at) >= floor


def get_run(
    pipeline_id: str,
    *,
    checkpoint_dir: str | os.PathLike[str] | None = "data/checkpoints",
    log_dir: str | os.PathLike[str] | None = "logs",
) -> RunInfo:
    """One run in full: every attempt, every stage execution, errors with their tracebacks.

    Args:
        pipeline_id: The run's id, or a prefix of it that matches exactly one run.
        checkpoint_dir: The pipeline's ``checkpoint_dir`` (``None``: events only).
        log_dir: Its ``log_dir`` (``None``: the record only).

    Raises:
        checkpointing.RunNotFoundError: No run has that id or prefix.
        checkpointing.AmbiguousIdError: The prefix matches several runs.
        checkpointing.RunRecordError: The run's record cannot be read.
    """
    pipeline_id = resolve_run_id(pipeline_id, checkpoint_dir=checkpoint_dir, log_dir=log_dir)
    store = _store(checkpoint_dir)
    record = _read_record(store, pipeline_id)
    events = _events(log_dir, pipeline_id=pipeline_id)
    if record is None and not events:
        raise RunNotFoundError(pipeline_id)
    live = store is not None and record is not None and _is_live(store, record)
    tracebacks = _tracebacks(log_dir, pipeline_id) if log_dir is not None else {}
    return build_run(pipeline_id, events, record=record, live=live, tracebacks=tracebacks)


def run_events(pipeline_id: str, *, log_dir: str | os.PathLike[str] | None) -> list[dict[str, Any]]:
    """Every event of ``pipeline_id`` (an exact id), oldest first."""
    return _events(log_dir, pipeline_id=pipeline_id)


def _tracebacks(log_dir: str | os.PathLike[str], pipeline_id: str) -> dict[tuple[str, str], str]:
    """Tracebacks of the run's failed stages, by ``(stage, timestamp)``, from ``errors.log*``.

    The ``errors.log`` record of a ``stage_error`` event carries the same timestamp as the
    event, which is how the two are matched.
    """
    directory = Path(log_dir) / _ERRORS_SUBDIR
    needle = f'"pipeline_id": {json.dumps(pipeline_id)}'
    found: dict[tuple[str, str], str] = {}
    try:
        files = [p for p in directory.iterdir() if p.name.startswith(_ERRORS_FILE)]
    except OSError:
        return found
    for path in files:
        try:
            text = path.read_bytes().decode("utf-8", "replace")
        except OSError:
            continue
        for line in text.splitlines():
            if needle not in line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if (
                isinstance(record, dict)
                and record.get("pipeline_id") == pipeline_id
                and isinstance(record.get("traceback"), str)
                and isinstance(record.get("stage"), str)
            ):
                found[(record["stage"], str(record.get("timestamp")))] = record["traceback"]
    return found


def unique_match(text: str, ids: Iterable[str], *, what: str) -> str | None:
    """``text`` itself if it is one of ``ids``, else the one id it is a prefix of.

    Returns:
        The id, or ``None`` when nothing matches.

    Raises:
        checkpointing.AmbiguousIdError: ``text`` is a prefix of several ids.
    """
    candidates = set(ids)
    if text in candidates:
        return text
    matches = [i for i in candidates if i.startswith(text)] if text else []
    if len(matches) > 1:
        raise AmbiguousIdError(text, matches, what)
    return matches[0] if matches else None


def resolve_run_id(
    text: str,
    *,
    checkpoint_dir: str | os.PathLike[str] | None,
    log_dir: str | os.PathLike[str] | None,
) -> str:
    """The full pipeline id that ``text`` (an id or a unique prefix of one) names.

    Run records are searched first; the events only when no record matches.

    Raises:
        checkpointing.RunNotFoundError: Nothing matches.
        checkpointing.AmbiguousIdError: Several runs match.
    """
    found = unique_match(text, _record_ids(checkpoint_dir), what="run")
    if found is not None:
        return found
    started = _events(log_dir, event_type="pipeline_start") + _events(
        log_dir, event_type="stage_start"
    )
    found = unique_match(text, {str(e.get("pipeline_id")) for e in started}, what="run")
    if found is None:
        raise RunNotFoundError(text)
    return found


def latest_run_id(
    *,
    checkpoint_dir: str | os.PathLike[str] | None,
    log_dir: str | os.PathLike[str] | None,
    name: str | None = None,
) -> str:
    """The id of the most recently started run (of ``name``).

    Raises:
        checkpointing.RunNotFoundError: There is no run.
    """
    runs = list_runs(checkpoint_dir=checkpoint_dir, log_dir=log_dir, name=name)
    if not runs:
        raise RunNotFoundError(name or "(any pipeline)")
    return runs[0].pipeline_id


def resolve_checkpoint_id(manager: CheckpointManager, text: str) -> str:
    """The full checkpoint id that ``text`` (an id or a unique prefix of one) names.

    Raises:
        checkpointing.CheckpointNotFoundError: Nothing matches.
        checkpointing.AmbiguousIdError: Several checkpoints match.
    """
    validate_name(text, what="checkpoint_id")
    if manager.storage.exists(text + MANIFEST_SUFFIX):
        return text
    ids = (e["checkpoint_id"] for e in manager.list_checkpoints())
    found = unique_match(text, ids, what="checkpoint")
    if found is None:
        raise CheckpointNotFoundError(text)
    return found
