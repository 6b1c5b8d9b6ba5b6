"""``Pipeline.map``: fan a stage out over many items, one checkpoint and one commit per item.

The driver checks everything that can be checked before anything runs (keys, fingerprints,
that the function and items can reach the workers), restores the items it can
(:mod:`._map_restore`), hands the rest to the executor (:mod:`._map_exec`), and handles each
task as it completes (:mod:`._map_outcomes`): the item's events and log records go to the run's
logs and the item to the run record, in batches. Workers checkpoint and commit their items
themselves (:mod:`._map_worker`); the data never passes through the driver to become durable.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from typing import TYPE_CHECKING, Any

from checkpointing._errors import MapError, StageIdentityError
from checkpointing.pipeline._fingerprint import FingerprintSpec, fingerprint
from checkpointing.pipeline._map_exec import runner_for
from checkpointing.pipeline._map_outcomes import Outcomes, Plan, Tally
from checkpointing.pipeline._map_progress import ProgressLine
from checkpointing.pipeline._map_restore import ItemRestorer
from checkpointing.pipeline._map_worker import MapTask
from checkpointing.storage._local import LocalStorage
from checkpointing.storage._names import validate_name
from checkpointing.store._ids import check_id_fits
from checkpointing.store._jsonvalues import metadata_to_json

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from checkpointing.pipeline._cache import CacheIndex, RerunPolicy
    from checkpointing.pipeline._events import EventLog
    from checkpointing.pipeline._fingerprint import Fingerprint
    from checkpointing.pipeline._map_exec import Runner
    from checkpointing.pipeline._run import RunTracker
    from checkpointing.store._manager import CheckpointManager

__all__: list[str] = []

_FLUSH_SECONDS = 1.0  # the run record takes the items completed since, in one write


class Fanout:
    """The fan-outs of one pipeline run.

    Args:
        run: The run (identities, record).
        events: Where events go.
        manager: The checkpoint store, or ``None`` when checkpoints are disabled.
        compression: Parquet codec the workers save with.
        lock_timeout: Registry lock timeout of the workers' stores.
        storage_options: Options of an object store the workers open.
        unsafe_single_writer: See ``CheckpointManager``.
        cache: The cross-run cache (``None`` when checkpoints are disabled).
        rerun: Which stages rerun even when they could be restored.
    """

    def __init__(
        self,
        run: RunTracker,
        events: EventLog,
        manager: CheckpointManager | None,
        *,
        compression: str,
        lock_timeout: float,
        storage_options: dict[str, Any],
        unsafe_single_writer: bool,
        cache: CacheIndex | None,
        rerun: RerunPolicy,
    ) -> None:
        self._run = run
        self._events = events
        self._manager = manager
        self._compression = compression
        self._lock_timeout = lock_timeout
        self._storage_options = storage_options
        self._unsafe_single_writer = unsafe_single_writer
        self._rerun = rerun
        self._restorer = None if manager is None else ItemRestorer(run, events, manager, cache)
        self._outcomes = Outcomes(events, manager, cache)
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
        cache: bool,
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
        flag: object = cache
        if not isinstance(flag, bool):
            msg = f"cache must be a bool, not {type(flag).__name__}"
            raise TypeError(msg)
        items = list(items)
        keys = _keys(stage, items, key)
        task = MapTask(
            fn=fn,
            pipeline_id=pipeline_id,
            stage=stage,
            checkpoint_dir=None if self._manager is None else str(self._checkpoint_dir()),
            compression=self._compression,
            lock_timeout=self._lock_timeout,
            storage_options=self._storage_options,
            unsafe_single_writer=self._unsafe_single_writer,
            metadata=metadata_to_json(dict(metadata or {})),
            collect=collect,
            driver_pid=os.getpid(),
            log_level=self._events.level,
        )
        fps: list[Fingerprint | None] = [None] * len(items)
        if cache and self._manager is not None:
            fps = [_fingerprint(fn, stage, k, item) for k, item in zip(keys, items, strict=True)]
        calls = [
            (k, item, None if fp is None else fp.to_json())
            for k, item, fp in zip(keys, items, fps, strict=True)
        ]
        runner = runner_for(executor, task, calls, call=next(self._calls))
        runner.check_picklable()
        plan = Plan(keys, self._run.identify_keys(stage, keys), fps)
        self._run.start()
        runner.attempt = self._run.attempt
        return self._fan_out(task, runner, plan, fail_fast=fail_fast, progress=progress)

    def _checkpoint_dir(self) -> str:
        """The store as every worker opens it: an absolute directory, or the URL."""
        assert self._manager is not None
        storage = self._manager.storage
        if isinstance(storage, LocalStorage):
            return str(storage.root.resolve())
        return storage.location

    def _fan_out(
        self, task: MapTask, runner: Runner, plan: Plan, *, fail_fast: bool, progress: bool | None
    ) -> list[Any]:
        stage, keys = task.stage, plan.keys
        tally = Tally(len(keys))
        results: list[Any] = [None] * len(keys)
        line = ProgressLine(stage, len(keys), enabled=progress)
        started = time.perf_counter()
        metadata = {"items": len(keys), "executor": runner.kind}
        self._events.event("map_start", task.pipeline_id, stage, "info", metadata)
        to_run = self._restore(task, plan, results, tally)
        line.update(tally.restored, 0)
        runner.calls = [runner.calls[i] for i in to_run]
        finished: set[int] = set()
        flushed = time.perf_counter()
        try:
            for position, outcome, lost in runner.completed():
                index = to_run[position]
                finished.add(index)
                if self._outcomes.finish(task, plan, index, outcome, lost=lost, tally=tally):
                    assert outcome is not None
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
            tally.errors += [(plan.identities[i], interrupt) for i in not_run]
            with contextlib.suppress(Exception):  # the commit records still hold the items
                self._flush(tally)
            self._summary(task, runner.kind, tally, started, not_run, interrupted=True)
            line.finish()
            raise
        not_run = [i for i in to_run if i not in finished]
        stopped = RuntimeError("not run: the fan-out stopped at the first failure (fail_fast)")
        tally.errors += [(plan.identities[i], stopped) for i in not_run]
        self._flush(tally)
        self._summary(task, runner.kind, tally, started, not_run, interrupted=False)
        line.finish()
        if tally.failed or not_run:
            failed = tuple(keys[i] for i in sorted(tally.failed))
            error = MapError(stage, failed, tuple(keys[i] for i in sorted(not_run)), len(keys))
            raise error from tally.first_error
        return results

    def _restore(self, task: MapTask, plan: Plan, results: list[Any], tally: Tally) -> list[int]:
        """Restore what can be restored; the indexes of the items to run."""
        forced = self._rerun.reason(task.stage)  # always asked: rerun_from starts at its stage
        cached = any(fp is not None for fp in plan.fps)
        if self._restorer is None or not (self._run.resumed or cached or forced):
            return list(range(len(plan.keys)))
        restored, plan.replace = self._restorer.restore(task, plan.keys, plan.fps, forced=forced)
        if forced is not None:
            plan.replace = set(range(len(plan.keys)))
        for index, item in restored.items():
            results[index] = item.result
            tally.restored += 1
            tally.rows += item.rows
            if item.record is not None:  # not in the run record yet
                tally.completed.append((plan.identities[index], item.record))
        return [i for i in range(len(plan.keys)) if i not in restored]

    def _flush(self, tally: Tally) -> None:
        """Record the items finished since the last flush, with one write of the run record."""
        completed, errors = tally.completed, tally.errors
        tally.completed, tally.errors = [], []
        self._run.executions_finished(completed, errors)

    def _summary(
        self,
        task: MapTask,
        executor: str,
        tally: Tally,
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


def _fingerprint(fn: Callable[[Any], Any], stage: str, key: str, item: Any) -> Fingerprint:
    """An item's fingerprint: the function's code (with its helpers) and the item.

    Raises:
        checkpointing.FingerprintError: The item cannot be hashed faithfully.
    """
    spec = FingerprintSpec(inputs={"item": item}, code=fn, cache=True)
    return fingerprint(spec, stage=stage, key=key)
