"""``Pipeline.map``: fan a stage out over many items, one checkpoint and one commit per item.

The driver checks everything that can be checked before anything runs (keys, the function and
items can reach the workers), restores the items a resumed run already committed, hands the
rest to the executor (:mod:`._map_exec`), and, as each task completes, writes the item's
events and log records to the run's logs and records the item in the run record. Workers
checkpoint and commit their items themselves (:mod:`._map_worker`); the data never passes
through the driver to become durable.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checkpointing._errors import CheckpointNotFoundError, MapError, StageIdentityError
from checkpointing.pipeline._map_exec import runner_for
from checkpointing.pipeline._map_logs import replay
from checkpointing.pipeline._map_progress import ProgressLine
from checkpointing.pipeline._map_restore import restore_item
from checkpointing.pipeline._map_worker import MapTask, RemoteTraceback
from checkpointing.pipeline._run import describe_error
from checkpointing.storage._names import validate_name
from checkpointing.store._codec import metadata_to_json
from checkpointing.store._ids import check_id_fits

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from checkpointing.pipeline._events import EventLog
    from checkpointing.pipeline._map_exec import Runner
    from checkpointing.pipeline._map_worker import ItemOutcome
    from checkpointing.pipeline._run import RunTracker, StageIdentity
    from checkpointing.store._manager import CheckpointManager

__all__: list[str] = []

_FLUSH_SECONDS = 1.0  # the run record takes the items completed since, in one write


@dataclass
class _Tally:
    """What happened to the items of one fan-out so far."""

    total: int
    done: int = 0
    restored: int = 0
    rows: int = 0
    failed: list[int] = field(default_factory=list)
    first_error: BaseException | None = None
    completed: list[tuple[StageIdentity, tuple[str, ...]]] = field(default_factory=list)
    errors: list[tuple[StageIdentity, BaseException]] = field(default_factory=list)


class Fanout:
    """The fan-outs of one pipeline run.

    Args:
        run: The run (identities, record).
        events: Where events go.
        manager: The checkpoint store, or ``None`` when checkpoints are disabled.
        compression: Parquet codec the workers save with.
        lock_timeout: Registry lock timeout of the workers' stores.
    """

    def __init__(
        self,
        run: RunTracker,
        events: EventLog,
        manager: CheckpointManager | None,
        *,
        compression: str,
        lock_timeout: float,
    ) -> None:
        self._run = run
        self._events = events
        self._manager = manager
        self._compression = compression
        self._lock_timeout = lock_timeout
        self._calls = itertools.count(1)  # numbers the fan-outs of the run (Dask task keys)

    def map(
        self,
        stage: str,
        fn: Callable[[Any], Any],
        items: Iterable[Any],
        *,
        key: Callable[[Any], str] | None,
        executor: object,
        fail_fast: bool,
        collect: bool,
        metadata: Mapping[str, Any] | None,
        progress: bool | None,
    ) -> list[Any]:
        """See :meth:`checkpointing.Pipeline.map`."""
        pipeline_id = self._run.pipeline_id
        validate_name(stage, what="stage")
        check_id_fits(pipeline_id, stage)
        if self._run.finished:
            msg = f"pipeline {pipeline_id!r} has ended; start a new Pipeline"
            raise RuntimeError(msg)
        if not collect and self._manager is None:
            raise ValueError("collect=False returns checkpoint ids: checkpoints are disabled")
        items = list(items)
        keys = _keys(stage, items, key)
        task = MapTask(
            fn=fn,
            pipeline_id=pipeline_id,
            stage=stage,
            checkpoint_dir=None if self._manager is None else str(self._checkpoint_dir()),
            compression=self._compression,
            lock_timeout=self._lock_timeout,
            metadata=metadata_to_json(dict(metadata or {})),
            collect=collect,
            driver_pid=os.getpid(),
            log_level=self._events.level,
        )
        calls = list(zip(keys, items, strict=True))
        runner = runner_for(executor, task, calls, call=next(self._calls))
        runner.check_picklable()
        identities = self._run.identify_keys(stage, keys)
        self._run.start()
        runner.attempt = self._run.attempt
        return self._fan_out(task, runner, keys, identities, fail_fast=fail_fast, progress=progress)

    def _checkpoint_dir(self) -> Path:
        assert self._manager is not None
        return Path(self._manager.checkpoint_dir).resolve()

    # -- the fan-out --------------------------------------------------------------------------

    def _fan_out(
        self,
        task: MapTask,
        runner: Runner,
        keys: list[str],
        identities: list[StageIdentity],
        *,
        fail_fast: bool,
        progress: bool | None,
    ) -> list[Any]:
        stage = task.stage
        tally = _Tally(len(keys))
        results: list[Any] = [None] * len(keys)
        line = ProgressLine(stage, len(keys), enabled=progress)
        started = time.perf_counter()
        metadata = {"items": len(keys), "executor": runner.kind}
        self._events.event("map_start", task.pipeline_id, stage, "info", metadata)
        to_run = list(range(len(keys)))
        if self._run.resumed and self._manager is not None:
            to_run = self._restore(task, keys, identities, results, tally)
            line.update(tally.restored, 0)
        runner.calls = [runner.calls[i] for i in to_run]
        finished: set[int] = set()
        flushed = time.perf_counter()
        try:
            for position, outcome, lost in runner.completed():
                index = to_run[position]
                finished.add(index)
                ok = self._finish(
                    task,
                    index,
                    key=keys[index],
                    identity=identities[index],
                    outcome=outcome,
                    lost=lost,
                    tally=tally,
                )
                if ok and outcome is not None:
                    results[index] = outcome.data if task.collect else outcome.checkpoint_id
                line.update(tally.done + tally.restored, len(tally.failed))
                if tally.failed and fail_fast:
                    runner.cancel()
                    break
                if time.perf_counter() - flushed >= _FLUSH_SECONDS:
                    self._flush(tally)
                    flushed = time.perf_counter()
        except BaseException as interrupt:  # KeyboardInterrupt above all: cancel the rest
            runner.cancel()
            not_run = [i for i in to_run if i not in finished]
            tally.errors += [(identities[i], interrupt) for i in not_run]
            with contextlib.suppress(Exception):  # the commit records still hold the items
                self._flush(tally)
            self._summary(task, runner.kind, tally, started, not_run, interrupted=True)
            line.finish()
            raise
        not_run = [i for i in to_run if i not in finished]
        stopped = RuntimeError("not run: the fan-out stopped at the first failure (fail_fast)")
        tally.errors += [(identities[i], stopped) for i in not_run]
        self._flush(tally)
        self._summary(task, runner.kind, tally, started, not_run, interrupted=False)
        line.finish()
        if tally.failed or not_run:
            failed = tuple(keys[i] for i in sorted(tally.failed))
            error = MapError(stage, failed, tuple(keys[i] for i in sorted(not_run)), len(keys))
            raise error from tally.first_error
        return results

    def _finish(
        self,
        task: MapTask,
        index: int,
        *,
        key: str,
        identity: StageIdentity,
        outcome: ItemOutcome | None,
        lost: BaseException | None,
        tally: _Tally,
    ) -> bool:
        """Log what one task produced and count it; whether the item succeeded (never raises)."""
        error = lost  # the executor lost the task, or (below) the item failed
        if outcome is not None:
            error = outcome.error
            if error is not None and outcome.traceback and error.__traceback__ is None:
                # It came from another process without its traceback: chain the worker's text.
                error.__cause__ = RemoteTraceback(outcome.traceback)
            self._replay(task, outcome, error)
            if error is None:
                error = lost = self._check_visible(outcome)
        if error is None:
            assert outcome is not None
            tally.done += 1
            tally.rows += outcome.rows or 0
            if outcome.checkpoint_id is not None:
                tally.completed.append((identity, (outcome.checkpoint_id,)))
            return True
        tally.failed.append(index)
        tally.errors.append((identity, error))
        if tally.first_error is None:
            tally.first_error = error
        if lost is not None:  # the driver saw the failure: the worker could not report it
            details = describe_error(lost)
            metadata = {"error_type": details["type"], "error": details["message"], "key": key}
            if outcome is None:
                metadata["reason"] = "the executor lost the task (a worker died, or a cancel)"
            self._events.event(
                "stage_error", task.pipeline_id, task.stage, "error", metadata, exc_info=lost
            )
        return False

    def _check_visible(self, outcome: ItemOutcome) -> BaseException | None:
        """An error if the item's checkpoint, committed by its worker, is not in our store."""
        if self._manager is None or outcome.checkpoint_id is None:
            return None
        try:
            self._manager.get_state(outcome.checkpoint_id)
        except CheckpointNotFoundError as error:
            error.add_note(
                f"item {outcome.key!r} was committed by process {outcome.pid}, but its "
                f"checkpoint is not in {self._manager.checkpoint_dir} as this process sees it: "
                "every worker must reach the checkpoint directory at the same path"
            )
            return error
        return None

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

    def _flush(self, tally: _Tally) -> None:
        """Record the items finished since the last flush, with one write of the run record."""
        completed, errors = tally.completed, tally.errors
        tally.completed, tally.errors = [], []
        self._run.executions_finished(completed, errors)

    def _summary(
        self,
        task: MapTask,
        executor: str,
        tally: _Tally,
        started: float,
        not_run: list[int],
        *,
        interrupted: bool,
    ) -> None:
        seconds = time.perf_counter() - started
        metadata: dict[str, Any] = {
            "items": tally.total,
            "done": tally.done,
            "restored": tally.restored,
            "failed": len(tally.failed),
            "not_run": len(not_run),
            "rows": tally.rows,
            "duration_seconds": seconds,
            "executor": executor,
        }
        if interrupted:
            metadata["interrupted"] = True
        status = "error" if (tally.failed or not_run) else "success"
        self._events.event("map_complete", task.pipeline_id, task.stage, status, metadata)
        self._events.performance(task.pipeline_id, task.stage, seconds)

    # -- resume -------------------------------------------------------------------------------

    def _restore(
        self,
        task: MapTask,
        keys: list[str],
        identities: list[StageIdentity],
        results: list[Any],
        tally: _Tally,
    ) -> list[int]:
        """Restore the items this run committed; returns the indexes of the others."""
        assert self._manager is not None
        recorded = self._run.keyed_candidates(task.stage)
        to_run: list[int] = []
        for index, key in enumerate(keys):
            found, failures = restore_item(self._manager, task, key, recorded.get(key, []))
            metadata: dict[str, Any] = {"key": key}
            if found is None:
                to_run.append(index)
                reason = "; ".join(failures) if failures else "no checkpoint"
                status = "warning" if failures else "info"
                self._event(task, "stage_rerun", status, metadata | {"reason": reason})
                continue
            checkpoint_id, data, rows, from_commit = found
            results[index] = data if task.collect else checkpoint_id
            tally.restored += 1
            tally.rows += rows
            if from_commit:  # committed by a worker, but the run record did not say so yet
                tally.completed.append((identities[index], (checkpoint_id,)))
            reason = f"restored from checkpoint {checkpoint_id}"
            if failures:
                reason += " (newer " + "; ".join(failures) + ")"
            self._event(task, "stage_start", "info", metadata | {"resumed": True})
            restored = {"checkpoint_id": checkpoint_id, "rows": rows, "reason": reason}
            self._event(
                task, "stage_restored", "warning" if failures else "success", metadata | restored
            )
            complete = {"rows": rows, "restored": True, "restored_from": checkpoint_id}
            self._event(task, "stage_complete", "success", metadata | complete | {"reason": reason})
        return to_run

    def _event(self, task: MapTask, event_type: str, status: str, metadata: dict[str, Any]) -> None:
        self._events.event(event_type, task.pipeline_id, task.stage, status, metadata)


def _keys(stage: str, items: list[Any], key: Callable[[Any], str] | None) -> list[str]:
    """Each item's key, validated; duplicates are refused."""
    keys = [validate_name(str(i) if key is None else key(i), what="item key") for i in items]
    seen: set[str] = set()
    duplicates = [k for k in keys if k in seen or seen.add(k)]  # type: ignore[func-returns-value]
    if duplicates:
        shown = ", ".join(repr(k) for k in dict.fromkeys(duplicates))
        msg = f"duplicate item keys {shown}; pass key= to give every item its own key"
        raise StageIdentityError(stage, msg)
    return keys
