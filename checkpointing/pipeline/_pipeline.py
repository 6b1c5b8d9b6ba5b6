"""``Pipeline``: ties the checkpoint store, run records and ``logging_ext`` together.

One ``Pipeline`` object is one run. ``with pipeline:`` brackets the run with ``pipeline_start`` /
``pipeline_complete`` and retention cleanup; ``with pipeline.stage(name) as s:`` brackets each
stage (see :class:`checkpointing.Stage`). A run is remembered in ``<checkpoint_dir>/runs`` so a
later ``Pipeline(name, resume=True)`` or ``Pipeline(name, pipeline_id=ID)`` continues it.
"""

from __future__ import annotations

import logging as std_logging
import os
import platform
import socket
import time
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar, overload

from checkpointing.pipeline import _decorators
from checkpointing.pipeline._alerts import RunAlerts
from checkpointing.pipeline._cache import CacheIndex, RerunPolicy
from checkpointing.pipeline._events import EventLog
from checkpointing.pipeline._fingerprint import FingerprintSpec
from checkpointing.pipeline._hooks import StageHooks
from checkpointing.pipeline._map import Fanout
from checkpointing.pipeline._map_restore import load_item
from checkpointing.pipeline._otel import tracing_for
from checkpointing.pipeline._run import RunTracker, describe_error
from checkpointing.pipeline._runs import PIPELINE_ID_SUFFIX_LENGTH, RunStore
from checkpointing.pipeline._stage import Stage
from checkpointing.storage._names import validate_name
from checkpointing.store._ids import MAX_PREFIX_BYTES, check_id_fits
from checkpointing.store._manager import CheckpointManager

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
    from os import PathLike
    from types import TracebackType

    from logging_ext import PipelineLogger

__all__ = ["Pipeline"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

_log = std_logging.getLogger("checkpointing.pipeline")


class Pipeline:
    """One run of a named pipeline: events, checkpoints and resume, one with-statement per stage.

    Args:
        name: The pipeline name (validated like a file name). Runs of the same name can be
            resumed.
        checkpoint_dir: Directory of the checkpoint store and of the run records (``runs/``).
        log_dir: Directory of ``pipeline.log``, ``events/`` and ``errors/``.
        resume: Continue the most recent run of ``name`` that did not complete and that no
            live process is running; with none, start a new run. The ``pipeline_start`` event
            says which. Claiming a run is atomic: of several processes resuming at once,
            exactly one continues each run.
        pipeline_id: Continue exactly this run (takes precedence over ``resume``).
        checkpoints: False disables the store: ``s.checkpoint`` writes nothing, nothing is
            restored and no run record is written.
        logging: True creates a ``logging_ext.PipelineLogger`` for ``log_dir`` (its handlers
            are attached once per process and log directory); pass your own ``PipelineLogger``
            to share it, or False/None to log no events and attach no handler.
        retention_days: Age after which cleanup deletes logs, checkpoints and run records.
        cleanup: Run retention cleanup when ``with pipeline:`` ends. Failures are logged,
            never raised.
        level: Level of the ``PipelineLogger`` created when ``logging=True`` (a number or
            a level name such as ``"DEBUG"``).
        console: Also log to stderr (when ``logging=True``).
        save_after_each_stage: :meth:`run_stage` and :meth:`step` checkpoint a DataFrame
            (or pyarrow Table) returned by the stage function.
        stage_logs: Also write every record emitted inside a stage to
            ``<stage_log_dir>/<stage>.log`` (JSON lines, process-safe rotation).
        stage_log_dir: Directory of the per-stage logs (default ``<log_dir>/stages``).
        compression: Parquet codec of the checkpoints.
        lock_timeout: Seconds to wait for the store's registry lock.
        storage_options: For a ``checkpoint_dir`` that is an object store URL (``s3://...``):
            obstore's configuration and ``lease_seconds`` (see ``CheckpointManager``).
        unsafe_single_writer: Accept an object store without conditional writes (see
            docs/object-storage.md).
        rerun_from: Rerun the first execution of this stage entered in the run, and every
            stage entered after it, even where they could be restored (from the resumed run or
            the cache).
        rerun: Rerun every execution of these stages even where they could be restored.
        alerts: Apprise URLs (``stagepoint[alerts]``) notified, off the pipeline's thread,
            when the run ends as ``alerts_on`` says (docs/operations.md, "Alerts").
        alerts_on: Outcomes that notify: ``"failure"``, ``"success"``, ``"slow"`` (a run
            slower than ``slow_factor`` times the median of its last ``slow_min_runs`` or more
            completed runs).
        alert_window: Seconds during which the same failure is not notified again.
        slow_factor: See ``alerts_on``.
        slow_min_runs: See ``alerts_on``.
        resume_hint: How to resume, in failure alerts: a string or a function of the pipeline
            id (default: the ``Pipeline(...)`` call that continues the run).
        performance_events: Also log a ``performance_metric`` event after each stage (off by
            default: ``stage_complete`` carries ``duration_seconds`` and the other timings).
        tracer_provider: An OpenTelemetry ``TracerProvider`` to emit the run, its stages, spans
            and checkpoint operations as spans (``stagepoint[otel]``); by default the global
            provider when the application has set one (docs/operations.md).

    Raises:
        checkpointing.InvalidNameError: ``name`` or ``pipeline_id`` is not a valid name.
        checkpointing.RunNotFoundError: ``pipeline_id`` names no recorded run.
        checkpointing.RunRecordError: The record of ``pipeline_id`` cannot be read.
        checkpointing.RunUnavailableError: ``pipeline_id`` completed, or a live process runs it.
        ValueError: ``pipeline_id`` belongs to a pipeline with another name.
        checkpointing.ConfigError: An unknown ``alerts_on`` outcome or an alert option out of
            range.
        ImportError: ``alerts`` without Apprise installed, or ``tracer_provider`` without
            ``opentelemetry-api``.
        logging_ext.InvalidHandlerArgumentError: An alert URL that Apprise does not recognise.

    A ``Pipeline`` may be shared by threads (stages of one run in parallel); each thread or
    asyncio task sees only its own stage context. Separate processes use separate ``Pipeline``
    objects and may share ``checkpoint_dir`` and ``log_dir``.

    The class composes; the work is done by the run tracker (``_run``), the event log
    (``_events``), the stage hooks (``_hooks``), the function wrappers (``_decorators``) and
    the fan-out (``_map``). It is longer than the ~300 lines a class should have because it is
    the public face of every feature: about 200 of its lines are the API reference of its
    methods, and each method delegates to the module that does the work.
    """

    def __init__(
        self,
        name: str,
        *,
        checkpoint_dir: str | PathLike[str] = "data/checkpoints",
        log_dir: str | PathLike[str] = "logs",
        resume: bool = False,
        pipeline_id: str | None = None,
        checkpoints: bool = True,
        logging: bool | PipelineLogger | None = True,
        retention_days: float = 7,
        cleanup: bool = True,
        level: int | str = std_logging.INFO,
        console: bool = False,
        save_after_each_stage: bool = True,
        stage_logs: bool = False,
        stage_log_dir: str | PathLike[str] | None = None,
        compression: str = "snappy",
        lock_timeout: float = 60.0,
        storage_options: Mapping[str, Any] | None = None,
        unsafe_single_writer: bool = False,
        rerun_from: str | None = None,
        rerun: Collection[str] = (),
        alerts: Iterable[str] | None = None,
        alerts_on: Iterable[str] = ("failure",),
        alert_window: float = 900.0,
        slow_factor: float = 3.0,
        slow_min_runs: int = 5,
        resume_hint: str | Callable[[str], str] | None = None,
        performance_events: bool = False,
        tracer_provider: Any = None,
    ) -> None:
        self.name = _check_pipeline_name(name)
        self.checkpoints_enabled = checkpoints
        self.retention_days = retention_days
        self.cleanup_enabled = cleanup
        self.save_after_each_stage = save_after_each_stage
        self._stage_names: set[str] = set()
        self._state = "new"  # new -> running -> ended (for ``with pipeline:``)
        self._context: Any = None
        self._t0 = 0.0

        reruns = RerunPolicy(rerun_from, rerun)
        self.manager: CheckpointManager | None = None
        runs: RunStore | None = None
        self._cache: CacheIndex | None = None
        if checkpoints:
            self.manager = CheckpointManager(
                checkpoint_dir,
                compression=compression,
                lock_timeout=lock_timeout,
                storage_options=storage_options,
                unsafe_single_writer=unsafe_single_writer,
            )
            runs = RunStore(self.manager.storage)
            self._cache = CacheIndex(self.manager.storage, self.name)
        self._runs = runs
        self._run = RunTracker(self.name, runs, resume=resume, pipeline_id=pipeline_id)
        self._events = EventLog(
            logging,
            log_dir=log_dir,
            retention_days=retention_days,
            level=level,
            console=console,
            stage_logs=stage_logs,
            stage_log_dir=stage_log_dir,
            performance_events=performance_events,
        )
        from logging_ext import log_context

        self._log_context = log_context
        self._hooks = StageHooks(
            self._run,
            self._events,
            self.manager,
            log_context,
            rerun=reruns,
            cache=self._cache,
            tracing=tracing_for(tracer_provider),
        )
        self._fanout = Fanout(
            self._run,
            self._events,
            self.manager,
            compression=compression,
            lock_timeout=lock_timeout,
            storage_options=dict(storage_options or {}),
            unsafe_single_writer=unsafe_single_writer,
            cache=self._cache,
            rerun=reruns,
        )
        self._alerts = RunAlerts(
            self.name,
            alerts,
            on=alerts_on,
            slow_factor=slow_factor,
            slow_min_runs=slow_min_runs,
            resume_hint=resume_hint,
            window=alert_window,
            run=self._run,
            events=self._events,
            runs=runs,
        )

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any] | str | PathLike[str],
        *,
        name: str = "pipeline",
        **overrides: Any,
    ) -> Pipeline:
        """A pipeline configured by the ``config/pipeline_config.yml`` layout.

        Args:
            config: A mapping, or the path of a YAML file (needs PyYAML:
                ``pip install 'stagepoint[yaml]'``). ``~`` and ``$VAR`` in its paths are
                expanded; relative paths are relative to the current directory.
            name: The pipeline name.
            **overrides: ``Pipeline`` keyword options that win over the configuration.

        Raises:
            checkpointing.ConfigError: An unknown key at any level of the layout (the message
                names the closest known key), a value of the wrong type, or a path naming an
                undefined environment variable or user.
            ImportError: ``config`` is a file and PyYAML is not installed.
        """
        from checkpointing.pipeline._config import pipeline_options, read_config

        options = pipeline_options(read_config(config))
        options.update(overrides)
        return cls(name, **options)

    # -- identity -----------------------------------------------------------------------------

    @property
    def pipeline_id(self) -> str:
        """``<name>_<YYYYmmdd_HHMMSS>_<suffix>``; the resumed run's id when resuming."""
        return self._run.pipeline_id

    @property
    def resumed(self) -> bool:
        """Whether this object continues an earlier run."""
        return self._run.resumed

    @property
    def resume_reason(self) -> str:
        """Which run this object continues, or why it starts a new one."""
        return self._run.reason

    @property
    def logger(self) -> PipelineLogger | None:
        """The ``PipelineLogger`` the events go to, or ``None``."""
        return self._events.logger

    @property
    def checkpoint_dir(self) -> str | None:
        """The checkpoint directory, or ``None`` when checkpoints are disabled."""
        return None if self.manager is None else self.manager.location

    @property
    def record(self) -> dict[str, Any] | None:
        """A copy of the run record as last written (``None`` before the run started or when
        checkpoints are disabled)."""
        return self._run.record_json()

    def __repr__(self) -> str:
        return f"<Pipeline {self.name!r} {self.pipeline_id!r}>"

    # -- the run ------------------------------------------------------------------------------

    def __enter__(self) -> Pipeline:
        if self._state != "new":
            msg = (
                f"pipeline {self.pipeline_id!r} was already entered ({self._state}); a "
                "Pipeline is one run: create a new one, or pass resume=True/pipeline_id"
            )
            raise RuntimeError(msg)
        if self._run.finished:
            msg = f"pipeline {self.pipeline_id!r} was closed; start a new Pipeline"
            raise RuntimeError(msg)
        self._state = "running"
        self._run.start()
        self._context = self._log_context(pipeline_id=self.pipeline_id)
        self._context.__enter__()
        self._t0 = time.perf_counter()
        metadata = {
            "name": self.name,
            "resumed": self.resumed,
            "reason": self.resume_reason,
            "attempt": self._run.attempt,
            "checkpoints": self.checkpoints_enabled,
            **self._settings(),
        }
        self._hooks.event("pipeline_start", None, "info", metadata)
        self._hooks.run_started(metadata)
        return self

    def _settings(self) -> dict[str, Any]:
        """What ``pipeline_start`` records of this run's configuration (the report shows it)."""
        logger = self._events.logger
        return {
            "checkpoint_dir": self.checkpoint_dir,
            "log_dir": None if logger is None else str(logger.log_dir),
            "retention_days": self.retention_days,
            "save_after_each_stage": self.save_after_each_stage,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "python": platform.python_version(),
        }

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            metadata: dict[str, Any] = {"duration_seconds": time.perf_counter() - self._t0}
            self._run.finish(exc)
            if exc is None:
                self._hooks.event("pipeline_complete", None, "success", metadata)
            else:
                error = describe_error(exc)
                metadata.update(error_type=error["type"], error=error["message"])
                self._hooks.event("pipeline_complete", None, "error", metadata)
            self._hooks.run_ended(metadata, exc)
            self._alerts.run_ended(exc)
            if self.cleanup_enabled:
                self.cleanup()
        finally:
            self._state = "ended"
            context, self._context = self._context, None
            if context is not None:
                context.__exit__(None, None, None)
            self.close()

    def close(self) -> None:
        """End the run and release what this pipeline holds.

        Called by ``with pipeline:`` at its end; call it yourself when you use stages without
        ``with pipeline:``. A run that started and was not ended yet is recorded as
        ``complete`` (``failed`` when a stage failed in it), so ``resume=True`` never continues
        it; the claim on the run is released; the ``PipelineLogger`` this pipeline created (not
        one passed in) is released, and once the last logger of a log directory is released
        its handlers are detached. Idempotent; stages cannot be entered afterwards.
        """
        self._run.finish(None, failed=self._run.has_failed_stage())
        self._alerts.run_ended(None, closed=True)
        self._events.close()

    async def __aenter__(self) -> Pipeline:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    @overload
    def cleanup(
        self, *, keep_last: int | None = ..., dry_run: Literal[False] = ...
    ) -> dict[str, int]: ...

    @overload
    def cleanup(
        self, *, keep_last: int | None = ..., dry_run: Literal[True]
    ) -> dict[str, list[str]]: ...

    def cleanup(
        self, *, keep_last: int | None = None, dry_run: bool = False
    ) -> dict[str, int] | dict[str, list[str]]:
        """Apply retention now: rotated logs, this pipeline's expired runs with their
        checkpoints, and cache entries whose checkpoint is gone. Failures are logged
        (``cleanup_error`` event), never raised.

        Only runs of this pipeline's name are touched. A run and its checkpoints expire
        together once its last activity is older than ``retention_days``; the current run, runs
        still going in a live process and the ``keep_last`` most recently started runs are
        never deleted (see docs/pipeline.md, "Retention").

        Args:
            keep_last: Keep this many most recently started runs whatever their age.
            dry_run: Delete nothing; return what would be deleted (logs are not included).

        Returns:
            How many items each part deleted, ``{"logs", "checkpoints", "runs", "cache"}``
            (parts that failed or are disabled are missing); with ``dry_run``, the checkpoint
            ids and run ids that would be deleted, ``{"checkpoints": [...], "runs": [...]}``.
        """
        from checkpointing.pipeline._retention import apply_retention

        found: dict[str, Any] = {}
        parts: list[tuple[str, Callable[[], dict[str, Any]]]] = []
        if not dry_run:
            parts.append(("logs", lambda: {"logs": self._events.cleanup_old_logs()}))
        if self.manager is not None and self._runs is not None:
            manager, days, current = self.manager, self.retention_days, self.pipeline_id

            def runs() -> dict[str, Any]:
                result = apply_retention(
                    manager,
                    name=self.name,
                    retention_days=days,
                    keep_last=keep_last,
                    dry_run=dry_run,
                    current=current,
                )
                if dry_run:
                    return {"checkpoints": result.checkpoints, "runs": result.runs}
                return {"checkpoints": len(result.checkpoints), "runs": len(result.runs)}

            parts.append(("checkpoints", runs))
        if self.manager is not None and self._cache is not None and not dry_run:
            manager, cache = self.manager, self._cache
            parts.append(("cache", lambda: {"cache": cache.prune(manager)}))
        for part, fn in parts:
            try:
                found.update({k: v for k, v in fn().items() if v is not None})
            except Exception as error:  # cleanup never takes the pipeline down
                _log.warning("retention cleanup of %s failed", part, exc_info=True)
                described = describe_error(error)
                self._hooks.event(
                    "cleanup_error",
                    None,
                    "warning",
                    {"part": part, "error_type": described["type"], "error": described["message"]},
                )
        return found

    # -- stages -------------------------------------------------------------------------------

    def stage(
        self,
        name: str,
        *,
        key: str | None = None,
        inputs: Any = None,
        version: str | None = None,
        cache: bool = False,
        cache_key: str | Callable[[Any], Any] | None = None,
    ) -> Stage:
        """A new :class:`Stage` named ``name``; enter it with ``with`` or ``async with``.

        Args:
            name: The stage name.
            key: Tells this execution apart from others of the same name in the run (a ticker,
                a date, a file name), so a resumed run restores each from its own checkpoint.
                Without a key, executions of one name are told apart by the order in which
                they are entered; give a key when that order can change between runs (stages
                of one name in parallel threads, or a loop over a changing list).
            inputs: What the stage computes from (frames, Tables, JSON-able parameters,
                functions, containers of them). With ``inputs``, ``version``, ``cache`` or
                ``cache_key`` the stage has a fingerprint, and a resumed run restores it only
                while the fingerprint matches (docs/caching.md).
            version: A string you change when the block's code changes.
            cache: Restore the stage from any earlier run of this pipeline name with the same
                fingerprint (``s.reason`` starts with ``"cache hit"``).
            cache_key: A string standing for inputs that cannot be hashed, or a function
                mapping each such input to something that can be.

        Raises:
            checkpointing.InvalidNameError: ``name`` or ``key`` is not a valid name, or
                ``name`` is too long together with the pipeline id.
            TypeError: ``version``, ``cache`` or ``cache_key`` has the wrong type. (An input
                that cannot be hashed raises ``FingerprintError`` when the stage is entered.)
        """
        if name not in self._stage_names:
            check_id_fits(self.pipeline_id, name)
            self._stage_names.add(name)
        if key is not None:
            validate_name(key, what="stage key")
        spec = FingerprintSpec(inputs=inputs, version=version, cache=cache, cache_key=cache_key)
        return Stage(self._hooks, name, key=key, spec=spec)

    def run_stage(self, name: str, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``fn(*args, **kwargs)`` as stage ``name``, skipping it when it can be restored.

        In a resumed run whose stage ``name`` completed with a verified checkpoint, the restored
        data is returned and ``fn`` is not called. Otherwise ``fn`` is called and, when it
        returns a pandas DataFrame and ``save_after_each_stage`` is on, the frame is
        checkpointed. The stage's events are those of ``with pipeline.stage(name)``; an
        exception of ``fn`` propagates unchanged.
        """
        return _decorators.run_stage(self, name, fn, *args, **kwargs)

    async def arun_stage(
        self, name: str, fn: Callable[P, Awaitable[R]], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """:meth:`run_stage` for a coroutine function (awaited inside ``async with``)."""
        return await _decorators.arun_stage(self, name, fn, *args, **kwargs)

    @overload
    def step(self, name: Callable[P, R], /) -> Callable[P, R]: ...

    @overload
    def step(
        self,
        name: str | None = None,
        /,
        *,
        cache: bool = False,
        version: str | None = None,
        cache_key: str | Callable[[Any], Any] | None = None,
    ) -> Callable[[Callable[P, R]], Callable[P, R]]: ...

    def step(
        self,
        name: str | Callable[P, R] | None = None,
        /,
        *,
        cache: bool = False,
        version: str | None = None,
        cache_key: str | Callable[[Any], Any] | None = None,
    ) -> Any:
        """Decorator: every call of the function runs as a stage (see :meth:`run_stage`).

        ``@pipeline.step("extract")`` names the stage; bare ``@pipeline.step`` uses the
        function's name. Coroutine functions become coroutine functions running
        ``async with pipeline.stage(...)``. Each call is one execution of the stage; calls are
        told apart by their order in the run.

        With ``cache=True`` (or ``version``/``cache_key``, as for :meth:`stage`) each call is
        fingerprinted by the function's code, with its helpers, and its call arguments; a call
        matching an earlier run's result returns it without calling the function.
        """
        return _decorators.step_decorator(
            self, name, cache=cache, version=version, cache_key=cache_key
        )

    # -- fan-out ------------------------------------------------------------------------------

    def map(
        self,
        stage: str,
        fn: Callable[[T], Any],
        items: Iterable[T],
        *,
        key: Callable[[T], str] | None = None,
        executor: object = None,
        fail_fast: bool = False,
        collect: bool = True,
        metadata: Mapping[str, Any] | None = None,
        progress: bool | None = None,
        cache: bool = False,
    ) -> list[Any]:
        """Run ``fn(item)`` for each item as an execution of ``stage`` keyed by the item.

        The process that runs an item checkpoints its result (DataFrame or pyarrow Table) in
        the shared store and commits it once, even when the executor runs it twice. A resumed
        run restores committed items and runs only the failed and missing ones. Each item's
        events (with its ``key``) reach this pipeline's event log, and records logged by ``fn``
        carry ``pipeline_id``, ``stage`` and ``key``, wherever it ran. See docs/distributed.md.

        Args:
            stage: The stage name.
            fn: Returns a DataFrame or Table; picklable for a process pool or Dask.
            items: The items (consumed once).
            key: The item's key (default ``str(item)``): a valid name, unique among the items.
            executor: ``None`` (this thread), a ``concurrent.futures.Executor`` or a
                ``dask.distributed.Client`` (``stagepoint[dask]``). Workers must reach the
                checkpoint directory at the same absolute path.
            fail_fast: Stop at the first failure; by default every item runs.
            collect: ``False`` returns checkpoint ids instead of data (see :meth:`load`).
            metadata: JSON values stored in every item's manifest, beside ``key``.
            progress: Progress line on stderr (default: when it is a terminal).
            cache: Restore each item from any earlier run of this pipeline name whose item of
                the same key had the same fingerprint (``fn``'s code with its helpers, and
                the item), as :meth:`stage` does for a stage.

        Returns:
            Results (or checkpoint ids) in the order of ``items``; restored ones as DataFrames.

        Raises:
            checkpointing.MapError: Items failed, once the others finished (the first error is
                its ``__cause__``); the run is recorded as failed.
            checkpointing.StageIdentityError: Duplicate keys, or a key already used in the run.
            checkpointing.NotPicklableError: ``fn`` or an item cannot reach the workers; nothing
                ran.
            checkpointing.InvalidNameError: ``stage`` or a key is not a valid name.
            checkpointing.FingerprintError: With ``cache``, an item cannot be hashed.
            TypeError: An unknown ``executor``, or ``metadata`` that is not JSON.
            ValueError: ``collect=False`` with checkpoints disabled.
        """
        return self._fanout.map(
            stage,
            fn,
            items,
            key=key,
            executor=executor,
            fail_fast=fail_fast,
            collect=collect,
            metadata=metadata,
            progress=progress,
            cache=cache,
        )

    def load(self, stage: str, key: str) -> Any:
        """The verified data of item ``key`` of ``stage`` committed in this run (or resumed run).

        Raises:
            checkpointing.ItemNotFoundError: No such item was committed in this run.
            checkpointing.IntegrityError: Its checkpoint failed verification.
            RuntimeError: Checkpoints are disabled.
        """
        return load_item(self._run, self.manager, stage, key)


def _check_pipeline_name(name: str) -> str:
    """Validate ``name`` now, including the room its ids and checkpoint ids need."""
    validate_name(name, what="pipeline name")
    room = MAX_PREFIX_BYTES - PIPELINE_ID_SUFFIX_LENGTH - 2  # "_" and a 1-byte stage name
    if len(name.encode("utf-8")) > room:
        from checkpointing._errors import InvalidNameError

        raise InvalidNameError(
            name, f"pipeline name is too long for checkpoint file names (at most {room} bytes)"
        )
    return name
