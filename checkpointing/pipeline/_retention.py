"""Run-aware retention: a pipeline's cleanup deletes its own expired runs, never a live one.

The store knows checkpoints; this layer knows runs (``runs/<pipeline_id>.json``), and decides
which pipeline ids may go, then asks the store to delete them. The rules:

* A run and its checkpoints expire together, once the run's last activity (its start, the end
  of its last stage, or its end) is older than ``retention_days``. So a failed or interrupted
  run keeps the checkpoints a resume would restore for as long as its run record lives, and
  that record expires by retention like any other.
* Never expired: the run doing the cleanup; a live run (one whose claim, ``runs/<id>.lock``,
  a process holds); the ``keep_last`` most recently started runs of the pipeline; a run whose
  record cannot be read. A run is expired while holding its claim, so a process can neither
  resume it meanwhile nor find it half-deleted.
* Checkpoints of a run whose record is gone (a crash, or an older version's cleanup) expire by
  their own timestamp, like the checkpoints of pipeline ids that are not runs at all.
* Only runs of the given pipeline name are considered: ``etl`` never touches ``etl_daily`` or
  anything saved with ``CheckpointManager`` under another id.
"""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from checkpointing._errors import RunNotFoundError, RunRecordError
from checkpointing.pipeline._runs import RUNS_DIR, RunRecord, RunStore, now_utc
from checkpointing.store._layout import TEMP_FILE
from checkpointing.store._retention import check_retention, expire_checkpoints

if TYPE_CHECKING:
    from collections.abc import Callable

    from checkpointing.store._manager import CheckpointManager

__all__: list[str] = []

logger = logging.getLogger("checkpointing.pipeline")

#: A run id: ``<name>_<YYYYmmdd>_<HHMMSS>_<6 digits + 12 hex>`` (see ``new_pipeline_id``).
RUN_ID = re.compile(r"(?P<name>.+)_(?P<start>\d{8}_\d{6})_[0-9a-f]{18}")


@dataclass(frozen=True)
class RetentionResult:
    """What a retention pass deleted (or, in a dry run, would delete)."""

    checkpoints: list[str]
    runs: list[str]


def apply_retention(
    manager: CheckpointManager,
    *,
    name: str | None,
    retention_days: float,
    keep_last: int | None = None,
    dry_run: bool = False,
    current: str | None = None,
    standalone: bool = False,
    sweep: bool | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RetentionResult:
    """Expire the runs of pipeline ``name`` (every name when ``None``) by the rules above.

    Args:
        manager: The store.
        name: The pipeline name whose runs are considered, or ``None`` for all.
        retention_days: Age limit of a run's last activity; ``0`` expires every run that is
            not current, live or kept by ``keep_last``.
        keep_last: Always keep this many most recently started runs of each pipeline name.
        dry_run: Delete nothing; report what would be deleted.
        current: The run doing the cleanup (never expired).
        standalone: Also expire, by their own timestamp, checkpoints of pipeline ids that are
            not runs (``CheckpointManager`` users): all of them, or the id ``name`` exactly.
        sweep: Passed to the store's leftover sweep (see ``cleanup_old_checkpoints``).
        progress: Called as ``progress(done, total)`` over the runs to delete.
    """
    check_retention(retention_days, keep_last)
    runs = RunStore(manager.storage)
    files = manager.storage.names(RUNS_DIR)  # directory listings, no file read
    pipelines = manager.list_pipelines()
    cutoff = now_utc() - timedelta(days=retention_days)
    expired, orphans = _plan(
        runs, files, pipelines, name=name, cutoff=cutoff, keep_last=keep_last, current=current
    )
    deleted: list[str] = []
    gone: list[str] = []
    for done, record in enumerate(sorted(expired, key=lambda r: r.pipeline_id)):
        if progress is not None:
            progress(done, len(expired))
        run_id = record.pipeline_id
        if dry_run:
            deleted += _expire(manager, 0, [run_id], None, True, sweep=False)
            gone.append(run_id)
            continue
        held = runs.claim(run_id)
        if held is None:
            continue  # resumed meanwhile
        try:
            if _expired_record(runs, run_id, cutoff, claimed=True) is None:
                continue  # changed since it was read
            # Every checkpoint of the run first: a crash in between leaves the record to retry.
            deleted += _expire(manager, 0, [run_id], None, False, sweep=False)
            if runs.delete(run_id):
                gone.append(run_id)
        finally:
            held.release()
    if standalone:
        plain = [p for p in pipelines if RUN_ID.fullmatch(p) is None and name in (None, p)]
        deleted += _expire(manager, retention_days, plain, keep_last, dry_run, sweep=False)
    deleted += _expire(manager, retention_days, orphans, None, dry_run, sweep=sweep)
    if not dry_run:
        _remove_run_leftovers(manager, files, name)
    if gone:
        logger.info("retention deleted %d run(s) and %d checkpoint(s)", len(gone), len(deleted))
    return RetentionResult(sorted(deleted), sorted(gone))


def _plan(
    runs: RunStore,
    files: list[str],
    pipelines: list[str],
    *,
    name: str | None,
    cutoff: datetime,
    keep_last: int | None,
    current: str | None,
) -> tuple[list[RunRecord], list[str]]:
    """The expired runs that have a record, and the runs without one (left to their age)."""
    prefix = "" if name is None else f"{name}_"  # a cheap test before the run-id pattern
    records = {
        n[: -len(".json")]
        for n in files
        if n.startswith(prefix) and n.endswith(".json") and _of(n[: -len(".json")], name)
    }
    orphans = {p for p in pipelines if p.startswith(prefix) and p not in records and _of(p, name)}
    by_name: dict[str, list[re.Match[str]]] = {}
    for run_id in records | orphans:
        found = RUN_ID.fullmatch(run_id)
        assert found is not None
        by_name.setdefault(found["name"], []).append(found)
    # A run id starts with its start time in UTC, comparable as text: no date parsing per run.
    cutoff_key = f"{cutoff:%Y%m%d_%H%M%S}"
    expired: list[RunRecord] = []
    unrecorded: list[str] = []
    for ids in by_name.values():
        ids.sort(key=lambda found: found[0], reverse=True)  # run ids sort by start time
        for position, found in enumerate(ids):
            run_id = found[0]
            if run_id == current or (keep_last and position < keep_last):
                continue
            if run_id in orphans:
                unrecorded.append(run_id)
            elif found["start"] <= cutoff_key:  # else its last activity cannot be older
                record = _expired_record(runs, run_id, cutoff)
                if record is not None:
                    expired.append(record)
    return expired, unrecorded


def _of(pipeline_id: str, name: str | None) -> bool:
    found = RUN_ID.fullmatch(pipeline_id)
    return found is not None and name in (None, found["name"])


def _expired_record(
    runs: RunStore, run_id: str, cutoff: datetime, *, claimed: bool = False
) -> RunRecord | None:
    """The record of ``run_id`` if it may be expired: readable, inactive long enough and not
    live (``claimed``: this process holds its claim, so nobody else runs it)."""
    try:
        record = runs.read(run_id)
        last = _last_activity(record)
    except RunNotFoundError:
        return None
    except (RunRecordError, ValueError) as error:
        logger.warning("retention keeps run %s: %s", run_id, error)
        return None
    if last >= cutoff or (not claimed and runs.is_live(run_id)):
        return None
    return record


def _last_activity(record: RunRecord) -> datetime:
    stamps = [record.started_at, record.finished_at]
    stamps += [s.get("completed_at") for s in record.stages]
    return max(datetime.fromisoformat(s) for s in stamps if isinstance(s, str))


def _expire(
    manager: CheckpointManager,
    retention_days: float,
    scope: list[str],
    keep_last: int | None,
    dry_run: bool,
    *,
    sweep: bool | None,
) -> list[str]:
    """Expire the checkpoints of ``scope`` by their own timestamp; return their ids."""
    return expire_checkpoints(
        manager,
        retention_days,
        pipeline_ids=scope,
        keep_last=keep_last,
        protect=(),
        dry_run=dry_run,
        grace_seconds=600.0,
        sweep=sweep,
    )


def _remove_run_leftovers(manager: CheckpointManager, files: list[str], name: str | None) -> None:
    """Remove temporary files of run records older than ten minutes (interrupted writes)."""
    storage = manager.storage
    for base in files:
        found = TEMP_FILE.fullmatch(base)
        target = "" if found is None else found["name"]
        if not (target.endswith(".json") and _of(target[: -len(".json")], name)):
            continue
        leftover = f"{RUNS_DIR}/{base}"
        with contextlib.suppress(FileNotFoundError):
            if storage.age_seconds_raw(leftover) > 600.0:
                storage.remove_raw(leftover)
