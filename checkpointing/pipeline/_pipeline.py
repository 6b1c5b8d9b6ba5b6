"""``Pipeline``: ties the checkpoint store, run records and ``logging_ext`` together.

One ``Pipeline`` object is one run. ``with pipeline:`` brackets the run with ``pipeline_start`` /
``pipeline_complete`` and retention cleanup; ``with pipeline.stage(name) as s:`` brackets each
stage (see :class:`checkpointing.Stage`). A run is remembered in ``<checkpoint_dir>/runs`` so a
later ``Pipeline(name, resume=True)`` or ``Pipeline(name, pipeline_id=ID)`` continues it.
"""

from __future__ import annotations

import functools
import inspect
import logging as std_logging
import threading
import time
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar, cast, overload

from checkpointing._errors import CheckpointNotFoundError, IntegrityError
from checkpointing.pipeline._runs import RunRecord, RunStore, new_pipeline_id, now_utc
from checkpointing.pipeline._stage import Stage
from checkpointing.storage._names import validate_name
from checkpointing.store._manager import CheckpointManager

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping
    from os import PathLike
    from types import TracebackType

    import pandas as pd

    from logging_ext import PipelineLogger

__all__ = ["Pipeline"]

P = ParamSpec("P")
R = TypeVar("R")

_log = std_logging.getLogger("checkpointing.pipeline")


class Pipeline:
    """One run of a named pipeline: events, checkpoints and resume, one with-statement per stage.

    Args:
        name: The pipeline name (validated like a file name). Runs of the same name can be
            resumed.
        checkpoint_dir: Directory of the checkpoint store and of the run records (``runs/``).
        log_dir: Directory of ``pipeline.log``, ``events/`` and ``errors/``.
        resume: Continue the most recent run of ``name`` that did not complete (and is not
            still running in a live process on this host); with none, start a new run. The
            ``pipeline_start`` event says which.
        pipeline_id: Continue exactly this run (takes precedence over ``resume``).
        checkpoints: False disables the store: ``s.checkpoint`` writes nothing, nothing is
            restored and no run record is written.
        logging: True creates a ``logging_ext.PipelineLogger`` for ``log_dir`` (its handlers
            are attached once per process and log directory); pass your own ``PipelineLogger``
            to share it, or False/None to log no events and attach no handler.
        retention_days: Age after which cleanup deletes logs, checkpoints and run records.
        cleanup: Run retention cleanup when ``with pipeline:`` ends. Failures are logged,
            never raised.
        level: Level of the ``PipelineLogger`` created when ``logging=True``.
        console: Also log to stderr (when ``logging=True``).
        save_after_each_stage: :meth:`run_stage` and :meth:`step` checkpoint a DataFrame
            (or pyarrow Table) returned by the stage function.
        stage_logs: Also write every record emitted inside a stage to
            ``<stage_log_dir>/<stage>.log`` (JSON lines, process-safe rotation).
        stage_log_dir: Directory of the per-stage logs (default ``<log_dir>/stages``).
        compression: Parquet codec of the checkpoints.
        lock_timeout: Seconds to wait for the store's registry lock.

    Raises:
        checkpointing.InvalidNameError: ``name`` or ``pipeline_id`` is not a valid name.
        checkpointing.RunNotFoundError: ``pipeline_id`` names no recorded run.
        ValueError: ``pipeline_id`` belongs to a pipeline with another name.

    A ``Pipeline`` may be shared by threads (stages of one run in parallel); each thread or
    asyncio task sees only its own stage context. Separate processes use separate ``Pipeline``
    objects and may share ``checkpoint_dir`` and ``log_dir``.
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
        level: int = std_logging.INFO,
        console: bool = False,
        save_after_each_stage: bool = True,
        stage_logs: bool = False,
        stage_log_dir: str | PathLike[str] | None = None,
        compression: str = "snappy",
        lock_timeout: float = 60.0,
    ) -> None:
        self.name = validate_name(name, what="pipeline name")
        self.checkpoints_enabled = checkpoints
        self.retention_days = retention_days
        self.cleanup_enabled = cleanup
        self.save_after_each_stage = save_after_each_stage
        self._lock = threading.Lock()
        self._stage_names: set[str] = set()
        self._state = "new"  # new -> running -> ended (for ``with pipeline:``)
        self._started = False
        self._context: Any = None
        self._t0 = 0.0
        self._owns_logger = False

        self.manager: CheckpointManager | None = None
        self._runs: RunStore | None = None
        if checkpoints:
            self.manager = CheckpointManager(
                checkpoint_dir, compression=compression, lock_timeout=lock_timeout
            )
            self._runs = RunStore(self.manager.storage)

        self.logger: PipelineLogger | None
        if logging is True:
            from logging_ext import PipelineLogger

            self.logger = PipelineLogger(
                log_dir, retention_days=retention_days, level=level, console=console
            )
            self._owns_logger = True
        elif logging is False or logging is None:
            self.logger = None
        else:
            self.logger = logging
        from logging_ext import log_context

        self._log_context = log_context
        if stage_logs:
            from pathlib import Path

            from checkpointing.pipeline._stage_logs import attach_stage_logs

            attach_stage_logs(
                stage_log_dir if stage_log_dir is not None else Path(log_dir) / "stages"
            )

        self._record: RunRecord | None = None
        self.resumed = False
        self.resume_reason = "new run"
        self._pipeline_id = self._resolve_run(resume, pipeline_id)

    def _resolve_run(self, resume: bool, pipeline_id: str | None) -> str:
        """Pick the run this object continues (setting the resume fields); return its id."""
        if pipeline_id is not None:
            validate_name(pipeline_id, what="pipeline_id")
            if self._runs is None:
                self.resume_reason = "pipeline_id given; checkpoints disabled, nothing to restore"
                return pipeline_id
            record = self._runs.read(pipeline_id)
            if record.name != self.name:
                msg = f"run {pipeline_id!r} belongs to pipeline {record.name!r}, not {self.name!r}"
                raise ValueError(msg)
            self._record, self.resumed = record, True
            self.resume_reason = f"continuing run {pipeline_id} (it was {record.status})"
            return pipeline_id
        if not resume:
            return new_pipeline_id(self.name)
        if self._runs is None:
            self.resume_reason = "checkpoints disabled: new run"
            return new_pipeline_id(self.name)
        found = self._runs.latest_unfinished(self.name)
        if found is None:
            self.resume_reason = "nothing to resume: new run"
            return new_pipeline_id(self.name)
        self._record, self.resumed = found, True
        self.resume_reason = f"resuming run {found.pipeline_id} (it was {found.status})"
        return found.pipeline_id

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
                ``pip install 'stagepoint[yaml]'``). Relative paths in it are relative to the
                current directory.
            name: The pipeline name.
            **overrides: ``Pipeline`` keyword options that win over the configuration.

        Raises:
            checkpointing.ConfigError: An unknown key in ``pipeline.execution.checkpoints`` or
                ``pipeline.logging``, or a value of the wrong type. Other sections are ignored.
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
        return self._pipeline_id

    @property
    def checkpoint_dir(self) -> str | None:
        """The checkpoint directory, or ``None`` when checkpoints are disabled."""
        return None if self.manager is None else str(self.manager.checkpoint_dir)

    @property
    def record(self) -> dict[str, Any] | None:
        """A copy of the run record as last written (``None`` before the run started or when
        checkpoints are disabled)."""
        with self._lock:
            return None if self._record is None else self._record.to_json()

    def __repr__(self) -> str:
        return f"<Pipeline {self.name!r} {self._pipeline_id!r}>"

    # -- the run ------------------------------------------------------------------------------

    def __enter__(self) -> Pipeline:
        if self._state != "new":
            msg = (
                f"pipeline {self._pipeline_id!r} was already entered ({self._state}); a "
                "Pipeline is one run: create a new one, or pass resume=True/pipeline_id"
            )
            raise RuntimeError(msg)
        self._state = "running"
        self._ensure_started()
        self._context = self._log_context(pipeline_id=self._pipeline_id)
        self._context.__enter__()
        self._t0 = time.perf_counter()
        record = self._record
        self._event(
            "pipeline_start",
            None,
            "info",
            {
                "name": self.name,
                "resumed": self.resumed,
                "reason": self.resume_reason,
                "attempt": 1 if record is None else record.attempts,
                "checkpoints": self.checkpoints_enabled,
            },
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            metadata: dict[str, Any] = {"duration_seconds": time.perf_counter() - self._t0}
            if exc is None:
                self._finish("complete", None)
                self._event("pipeline_complete", None, "success", metadata)
            else:
                self._finish("failed", exc)
                metadata.update(error_type=type(exc).__name__, error=str(exc))
                self._event("pipeline_complete", None, "error", metadata)
            if self.cleanup_enabled:
                self.cleanup()
        finally:
            self._state = "ended"
            context, self._context = self._context, None
            if context is not None:
                context.__exit__(None, None, None)
            self.close()

    def close(self) -> None:
        """Release the ``PipelineLogger`` this pipeline created (not one passed in).

        Called by ``with pipeline:`` at its end; call it yourself when you use stages without
        ``with pipeline:``. Once the last logger of a log directory is released, its handlers
        are detached from the logging tree. Idempotent; later events are dropped.
        """
        if self._owns_logger and self.logger is not None:
            self.logger.close()

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
        """Apply retention now: rotated logs, and this pipeline's expired runs with their
        checkpoints. Failures are logged (``cleanup_error`` event), never raised.

        Only runs of this pipeline's name are touched. A run and its checkpoints expire
        together once its last activity is older than ``retention_days``; the current run, runs
        still going in a live process and the ``keep_last`` most recently started runs are
        never deleted (see docs/pipeline.md, "Retention").

        Args:
            keep_last: Keep this many most recently started runs whatever their age.
            dry_run: Delete nothing; return what would be deleted (logs are not included).

        Returns:
            How many items each part deleted, ``{"logs", "checkpoints", "runs"}`` (parts that
            failed or are disabled are missing); with ``dry_run``, the checkpoint ids and run
            ids that would be deleted, ``{"checkpoints": [...], "runs": [...]}``.
        """
        from checkpointing.pipeline._retention import apply_retention

        found: dict[str, Any] = {}
        parts: list[tuple[str, Callable[[], dict[str, Any]]]] = []
        if self.logger is not None and not dry_run:
            logger = self.logger
            parts.append(("logs", lambda: {"logs": logger.cleanup_old_logs()}))
        if self.manager is not None and self._runs is not None:
            manager, days, current = self.manager, self.retention_days, self._pipeline_id

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
        for part, fn in parts:
            try:
                found.update(fn())
            except Exception as error:  # cleanup never takes the pipeline down
                _log.warning("retention cleanup of %s failed", part, exc_info=True)
                self._event(
                    "cleanup_error",
                    None,
                    "warning",
                    {"part": part, "error_type": type(error).__name__, "error": str(error)},
                )
        return found

    # -- stages -------------------------------------------------------------------------------

    def stage(self, name: str) -> Stage:
        """A new :class:`Stage` named ``name``; enter it with ``with`` or ``async with``.

        Raises:
            checkpointing.InvalidNameError: ``name`` is not a valid name.
        """
        if name not in self._stage_names:
            validate_name(name, what="stage")
            self._stage_names.add(name)
        return Stage(self, name)

    def run_stage(self, name: str, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``fn(*args, **kwargs)`` as stage ``name``, skipping it when it can be restored.

        In a resumed run whose stage ``name`` completed with a verified checkpoint, the restored
        data is returned and ``fn`` is not called. Otherwise ``fn`` is called and, when it
        returns a pandas DataFrame and ``save_after_each_stage`` is on, the frame is
        checkpointed. The stage's events are those of ``with pipeline.stage(name)``; an
        exception of ``fn`` propagates unchanged.
        """
        with self.stage(name) as s:
            if s.restored:
                return cast("R", s.data)
            result = fn(*args, **kwargs)
            self._keep_result(s, result)
            return result

    async def arun_stage(
        self, name: str, fn: Callable[P, Awaitable[R]], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """:meth:`run_stage` for a coroutine function (awaited inside ``async with``)."""
        async with self.stage(name) as s:
            if s.restored:
                return cast("R", s.data)
            result = await fn(*args, **kwargs)
            self._keep_result(s, result)
            return result

    @overload
    def step(self, name: Callable[P, R], /) -> Callable[P, R]: ...

    @overload
    def step(self, name: str | None = None, /) -> Callable[[Callable[P, R]], Callable[P, R]]: ...

    def step(self, name: str | Callable[P, R] | None = None, /) -> Any:
        """Decorator: every call of the function runs as a stage (see :meth:`run_stage`).

        ``@pipeline.step("extract")`` names the stage; bare ``@pipeline.step`` uses the
        function's name. Coroutine functions become coroutine functions running
        ``async with pipeline.stage(...)``.
        """

        def decorate(fn: Callable[..., Any], stage_name: str) -> Callable[..., Any]:
            validate_name(stage_name, what="stage")
            if inspect.iscoroutinefunction(fn):

                @functools.wraps(fn)
                async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                    return await self.arun_stage(stage_name, fn, *args, **kwargs)

                return async_wrapper

            @functools.wraps(fn)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                return self.run_stage(stage_name, fn, *args, **kwargs)

            return wrapper

        if callable(name):
            return decorate(name, name.__name__)
        return lambda fn: decorate(fn, name or fn.__name__)

    def _keep_result(self, s: Stage, result: object) -> None:
        import pandas as pd
        import pyarrow as pa

        if self.save_after_each_stage and isinstance(result, pd.DataFrame | pa.Table):
            s.checkpoint(cast("pd.DataFrame", result))

    # -- called by Stage ----------------------------------------------------------------------

    def _started_under_lock(self) -> bool:
        return self._started

    def _ensure_started(self) -> None:
        if self._started:
            return
        with self._lock:
            if self._started_under_lock():
                return
            if self._runs is not None:
                if self._record is None:
                    self._record = RunRecord(self.name, self._pipeline_id)
                else:
                    self._record.status = "running"
                    self._record.attempts += 1
                    self._record.finished_at = None
                    self._record.error = None
                    self._record.take_over()
                self._runs.write(self._record)
            self._started = True

    def _finish(self, status: str, error: BaseException | None) -> None:
        with self._lock:
            record, runs = self._record, self._runs
            if record is None or runs is None:
                return
            record.status = "complete" if status == "complete" else "failed"
            record.finished_at = now_utc().isoformat()
            if error is not None and record.error is None:
                record.error = {"type": type(error).__name__, "message": str(error), "stage": None}
            self._write_record(record, runs, failing=error is not None)

    def _write_record(self, record: RunRecord, runs: RunStore, *, failing: bool) -> None:
        """Persist the run record; while an exception propagates, never replace it."""
        if not failing:
            runs.write(record)
            return
        try:
            runs.write(record)
        except Exception:
            _log.warning("could not update run record %s", record.pipeline_id, exc_info=True)

    def _stage_entered(self, stage: Stage) -> Any:
        if self._state == "ended":
            msg = f"pipeline {self._pipeline_id!r} has ended; start a new Pipeline"
            raise RuntimeError(msg)
        self._ensure_started()
        context = self._log_context(pipeline_id=self._pipeline_id, stage=stage.name)
        context.__enter__()
        return context

    def _stage_exited(self, stage: Stage, context: Any) -> None:
        context.__exit__(None, None, None)

    def _stage_started(self, stage: Stage) -> None:
        metadata: dict[str, Any] = {}
        if stage.parent is not None:
            metadata["parent_stage"] = stage.parent
        if not self.resumed:
            self._event("stage_start", stage.name, "info", metadata)
            return
        metadata["resumed"] = True
        self._event("stage_start", stage.name, "info", metadata)
        self._restore(stage)

    def _restore(self, stage: Stage) -> None:
        assert self.manager is not None
        with self._lock:
            candidates = [] if self._record is None else self._record.checkpoints_of(stage.name)
        failures: list[str] = []
        for checkpoint_id in candidates:
            try:
                loaded = self.manager.load_checkpoint(checkpoint_id)
            except IntegrityError as error:
                failures.append(f"checkpoint {checkpoint_id} failed verification: {error.reason}")
                continue
            except CheckpointNotFoundError:
                failures.append(f"checkpoint {checkpoint_id} not found")
                continue
            reason = f"restored from checkpoint {checkpoint_id}"
            if failures:
                reason += " (newer " + "; ".join(failures) + ")"
            stage._set_restored(checkpoint_id, loaded["data"], reason)
            self._event(
                "stage_restored",
                stage.name,
                "warning" if failures else "success",
                {"checkpoint_id": checkpoint_id, "rows": stage.rows, "reason": reason},
            )
            return
        reason = "; ".join(failures) if failures else "no checkpoint"
        stage._set_reason(reason)
        self._event(
            "stage_rerun", stage.name, "warning" if failures else "info", {"reason": reason}
        )

    def _stage_metadata(self, stage: Stage) -> dict[str, Any]:
        metadata = stage.metadata
        metadata["duration_seconds"] = stage.duration_seconds
        metadata["cpu_seconds"] = stage.cpu_seconds
        if stage.rows is not None:
            metadata["rows"] = stage.rows
        if stage.checkpoint_ids:
            metadata["checkpoint_ids"] = list(stage.checkpoint_ids)
        if stage.restored:
            metadata["restored"] = True
            metadata["restored_from"] = stage.restored_from
        if stage.parent is not None:
            metadata["parent_stage"] = stage.parent
        if self.resumed:
            metadata["reason"] = stage.reason
        return metadata

    def _stage_completed(self, stage: Stage) -> None:
        if stage.checkpoint_ids:
            self._record_stage(stage)
        metadata = self._stage_metadata(stage)
        self._event("stage_complete", stage.name, "success", metadata)
        if self.logger is not None:
            self.logger.log_performance(self._pipeline_id, stage.name, metadata["duration_seconds"])

    def _record_stage(self, stage: Stage) -> None:
        with self._lock:
            record, runs = self._record, self._runs
            if record is None or runs is None:
                return
            record.stages.append(
                {
                    "stage": stage.name,
                    "checkpoint_ids": list(stage.checkpoint_ids),
                    "completed_at": now_utc().isoformat(),
                }
            )
            runs.write(record)

    def _stage_failed(self, stage: Stage, error: BaseException) -> None:
        with self._lock:
            record, runs = self._record, self._runs
            if record is not None and runs is not None:
                record.status = "failed"
                record.error = {
                    "type": type(error).__name__,
                    "message": str(error),
                    "stage": stage.name,
                }
                self._write_record(record, runs, failing=True)
        if self.logger is not None:
            self.logger.log_stage_error(
                self._pipeline_id, stage.name, error, self._stage_metadata(stage)
            )

    def _save(self, stage: Stage, data: pd.DataFrame, metadata: dict[str, Any]) -> str | None:
        if self.manager is None:
            self._event(
                "checkpoint_skipped",
                stage.name,
                "info",
                {"reason": "checkpoints disabled", "rows": len(data)},
            )
            return None
        checkpoint_id = self.manager.save_checkpoint(
            self._pipeline_id, stage.name, data, metadata=metadata or None
        )
        if self.logger is not None:
            self.logger.log_checkpoint(self._pipeline_id, stage.name, checkpoint_id)
        return checkpoint_id

    def _data_quality(self, stage: Stage, metrics: dict[str, Any]) -> None:
        if self.logger is not None:
            self.logger.log_data_quality(self._pipeline_id, stage.name, metrics)

    def _event(
        self, event_type: str, stage: str | None, status: str, metadata: Mapping[str, Any]
    ) -> None:
        if self.logger is not None:
            self.logger.log_event(
                event_type, self._pipeline_id, stage=stage, status=status, metadata=dict(metadata)
            )
