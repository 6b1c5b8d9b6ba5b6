"""``PipelineLogger``: pipeline events and records as JSON lines in one log directory."""

from __future__ import annotations

import hashlib
import logging
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from logging_ext._context import ContextFilter, context_has_pipeline
from logging_ext._errors import InvalidHandlerArgumentError
from logging_ext._formatter import JsonFormatter
from logging_ext._handlers import (
    ProcessSafeRotatingFileHandler,
    ProcessSafeTimedRotatingFileHandler,
)
from logging_ext._query import EVENTS_FILE, EVENTS_SUBDIR, read_events, summarize_events
from logging_ext._retention import cleanup_old_logs

if TYPE_CHECKING:
    import os
    from collections.abc import Mapping
    from types import TracebackType

__all__ = ["PipelineLogger"]

EVENT_FIELDS = ("event_type", "pipeline_id", "stage", "status", "metadata")
RECORD_FIELDS = ("levelname", "name", "message", "pipeline_id", "stage", "process", "threadName")
EVENTS_LOGGER = "logging_ext.events"
_LEVEL_OF_STATUS = {"error": logging.ERROR, "warning": logging.WARNING}
_CONSOLE_FORMAT = "%(asctime)s %(levelname)-7s %(pipeline_id)s/%(stage)s %(name)s: %(message)s"


class _PipelineScopeFilter(logging.Filter):
    """Accept this directory's events and records of a pipeline (context or ``pipeline_id``).

    Records of ``logging_ext``'s other loggers (another directory's events) are rejected.
    """

    def __init__(self, events_logger: str) -> None:
        super().__init__()
        self.events_logger = events_logger

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        if name.startswith("logging_ext."):
            return name == self.events_logger
        return "pipeline_id" in record.__dict__ or context_has_pipeline()


@dataclass
class _Sinks:
    """The handlers of one log directory in this process, shared by its PipelineLoggers."""

    directory: Path
    events_logger: logging.Logger
    events_handler: logging.Handler
    # pipeline.log and errors.log (and the console), on the root logger or the events logger
    shared: list[logging.Handler]
    on_root: bool = False
    users: int = 0
    root_level: tuple[int, int] | None = None  # (level before, level we set)
    console: logging.Handler | None = None

    @property
    def shared_host(self) -> logging.Logger:
        return logging.getLogger() if self.on_root else self.events_logger


_SINKS: dict[str, _Sinks] = {}
_SINKS_LOCK = threading.Lock()


def _handler_name(kind: str, directory: Path) -> str:
    return f"logging_ext.{kind}:{directory}"


def _remove_named(logger: logging.Logger, name: str) -> None:
    for handler in [h for h in logger.handlers if h.get_name() == name]:
        logger.removeHandler(handler)
        handler.close()


class PipelineLogger:
    """Structured pipeline events and records as JSON lines, safe across processes.

    Writes, under ``log_dir``:

    - ``pipeline.log``: every event and every record of any logger emitted inside a
      :func:`~logging_ext.log_context` with a ``pipeline_id`` (size-rotated by ``max_bytes``
      and ``backup_count``);
    - ``events/events.log``: one event per line (``timestamp``, ``event_type``,
      ``pipeline_id``, ``stage``, ``status``, ``metadata``), rotated daily to
      ``events.log.YYYY-MM-DD``;
    - ``errors/errors.log``: records at ERROR and above, with ``exc_type``, ``exc_message``
      and the full ``traceback`` (size-rotated).

    The handlers are attached to named stdlib loggers once per (process, log directory):
    further ``PipelineLogger`` objects for the same directory share them, so no line is ever
    written twice. Events go through the logger ``logging_ext.events.<digest>`` (a child of
    ``logging_ext.events``, which applications may route). With ``configure_root=True`` (the
    default), the ``pipeline.log`` and ``errors.log`` handlers are also put on the root logger
    behind a filter that keeps only records of a pipeline context, and the root level is
    lowered to ``level`` if it was higher (restored when the last logger of the directory
    closes); ``configure_root=False`` leaves the root logger alone.

    Every call returns once its lines are in the kernel; logging failures are reported on
    stderr once and never raised. All methods are thread-safe; any number of processes may
    share one directory.

    Args:
        log_dir: The log directory (created with ``events/``, ``errors/`` and ``stages/``).
        retention_days: Age in days after which :meth:`cleanup_old_logs` deletes rotated files.
        max_bytes: Size at which ``pipeline.log`` and ``errors.log`` rotate.
        backup_count: Rotated files kept for ``pipeline.log`` and ``errors.log``.
        level: Lowest level written (events are INFO, warnings WARNING, errors ERROR).
        console: Also print human-readable lines on stderr (for a ``--verbose`` flag).
        configure_root: Capture records of any logger inside a pipeline context (see above).

    Raises:
        InvalidHandlerArgumentError: A negative size, count or retention.
    """

    def __init__(
        self,
        log_dir: str | os.PathLike[str] = "logs",
        retention_days: float = 7,
        max_bytes: int = 10 * 1024 * 1024,
        backup_count: int = 5,
        *,
        level: int = logging.INFO,
        console: bool = False,
        configure_root: bool = True,
    ) -> None:
        if retention_days < 0:
            raise InvalidHandlerArgumentError("retention_days", retention_days, "must be >= 0")
        if max_bytes < 0:
            raise InvalidHandlerArgumentError("max_bytes", max_bytes, "must be >= 0")
        if backup_count < 0:
            raise InvalidHandlerArgumentError("backup_count", backup_count, "must be >= 0")
        self.log_dir = Path(log_dir).resolve()
        self.retention_days = retention_days
        self.max_bytes = max_bytes
        self.backup_count = backup_count
        self.level = level
        for sub in (EVENTS_SUBDIR, "errors", "stages"):
            (self.log_dir / sub).mkdir(parents=True, exist_ok=True)
        self._sinks: _Sinks | None = self._acquire(console=console, configure_root=configure_root)
        self._events_logger = self._sinks.events_logger
        self._record_factory = logging.getLogRecordFactory()

    # -- handler registry --------------------------------------------------------------------

    def _acquire(self, *, console: bool, configure_root: bool) -> _Sinks:
        key = str(self.log_dir)
        with _SINKS_LOCK:
            sinks = _SINKS.get(key)
            if sinks is None or not self._alive(sinks):
                sinks = self._build()
                _SINKS[key] = sinks
            if configure_root and not sinks.on_root:
                self._attach_root(sinks)
            if console and sinks.console is None:
                self._attach_console(sinks)
            sinks.users += 1
            return sinks

    @staticmethod
    def _alive(sinks: _Sinks) -> bool:
        """Whether the registered handlers are still attached (a reset may have removed them)."""
        host = sinks.shared_host.handlers
        return sinks.events_handler in sinks.events_logger.handlers and all(
            h in host for h in sinks.shared
        )

    def _build(self) -> _Sinks:
        directory = self.log_dir
        digest = hashlib.sha1(str(directory).encode(), usedforsecurity=False).hexdigest()[:12]
        events_logger = logging.getLogger(f"{EVENTS_LOGGER}.{digest}")
        context = ContextFilter()
        scope = _PipelineScopeFilter(events_logger.name)
        events = ProcessSafeTimedRotatingFileHandler(
            directory / EVENTS_SUBDIR / EVENTS_FILE, when="midnight", delay=True
        )
        events.setFormatter(JsonFormatter(list(EVENT_FIELDS), exc_fields=False))
        events.set_name(_handler_name("events", directory))
        events.addFilter(context)
        pipeline = ProcessSafeRotatingFileHandler(
            directory / "pipeline.log",
            maxBytes=self.max_bytes,
            backupCount=self.backup_count,
            delay=True,
        )
        errors = ProcessSafeRotatingFileHandler(
            directory / "errors" / "errors.log",
            maxBytes=self.max_bytes,
            backupCount=self.backup_count,
            delay=True,
        )
        errors.setLevel(logging.ERROR)
        for kind, handler in (("pipeline", pipeline), ("errors", errors)):
            handler.setFormatter(JsonFormatter(list(RECORD_FIELDS)))
            handler.set_name(_handler_name(kind, directory))
            handler.addFilter(scope)
            handler.addFilter(context)
        root = logging.getLogger()
        for name in (events.get_name(), pipeline.get_name(), errors.get_name()):
            _remove_named(events_logger, name)
            _remove_named(root, name)
        events_logger.addHandler(events)
        events_logger.addHandler(pipeline)
        events_logger.addHandler(errors)
        events_logger.setLevel(self.level)
        return _Sinks(directory, events_logger, events, [pipeline, errors])

    def _attach_root(self, sinks: _Sinks) -> None:
        """Move pipeline.log/errors.log (and console) handlers to the root logger.

        Events still reach them, by propagation from the events logger; each record reaches
        each handler once.
        """
        root = logging.getLogger()
        for handler in sinks.shared:
            sinks.events_logger.removeHandler(handler)
            root.addHandler(handler)
        sinks.on_root = True
        if root.level > self.level or root.level == logging.NOTSET:
            sinks.root_level = (root.level, self.level)
            root.setLevel(self.level)

    def _attach_console(self, sinks: _Sinks) -> None:
        console = logging.StreamHandler(sys.stderr)
        console.set_name(_handler_name("console", sinks.directory))
        console.setFormatter(
            logging.Formatter(_CONSOLE_FORMAT, defaults={"pipeline_id": "-", "stage": "-"})
        )
        console.addFilter(_PipelineScopeFilter(sinks.events_logger.name))
        console.addFilter(ContextFilter())
        host = sinks.shared_host
        _remove_named(host, console.get_name())
        host.addHandler(console)
        sinks.shared.append(console)
        sinks.console = console

    def close(self) -> None:
        """Stop using the directory's handlers; the last logger of the directory detaches them.

        Detaches and closes the handlers (and restores the root level if this package lowered
        it and nobody changed it since) once no other ``PipelineLogger`` of this process uses
        the same directory. Idempotent; logging after ``close`` is silently dropped.
        """
        sinks, self._sinks = self._sinks, None
        if sinks is None:
            return
        with _SINKS_LOCK:
            sinks.users -= 1
            if sinks.users > 0:
                return
            if _SINKS.get(str(sinks.directory)) is sinks:
                del _SINKS[str(sinks.directory)]
            root = logging.getLogger()
            for handler in [sinks.events_handler, *sinks.shared]:
                sinks.events_logger.removeHandler(handler)
                root.removeHandler(handler)
                handler.close()
            if sinks.root_level is not None and root.level == sinks.root_level[1]:
                root.setLevel(sinks.root_level[0])

    def __enter__(self) -> PipelineLogger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- events ------------------------------------------------------------------------------

    def log_event(
        self,
        event_type: str,
        pipeline_id: str,
        stage: str | None = None,
        status: str = "success",
        metadata: Mapping[str, Any] | None = None,
        *,
        exc_info: BaseException | None = None,
    ) -> None:
        """Write one event to ``events/events.log`` and ``pipeline.log`` (and ``errors.log``).

        The level follows the status: ``"error"`` is ERROR (so the event also lands in
        ``errors.log``), ``"warning"`` WARNING, anything else INFO. The event is in the
        kernel when this returns. Never raises for a logging failure or an odd metadata
        value (see :class:`~logging_ext.JsonFormatter` for the JSON forms).

        Args:
            event_type: ``pipeline_start``, ``stage_complete``... (any string).
            pipeline_id: The pipeline run.
            stage: The stage, if the event belongs to one.
            status: ``success``, ``error``, ``warning`` or ``info``.
            metadata: Event details, written as a JSON object.
            exc_info: An exception whose type, message and traceback go to ``errors.log``.
        """
        level = _LEVEL_OF_STATUS.get(status, logging.INFO)
        logger = self._events_logger
        if self._sinks is None or not logger.isEnabledFor(level):
            return
        record = self._record_factory(
            logger.name,
            level,
            __file__,
            0,
            event_type,
            (),
            (type(exc_info), exc_info, exc_info.__traceback__) if exc_info is not None else None,
        )
        attributes = record.__dict__
        attributes["event_type"] = event_type
        attributes["pipeline_id"] = pipeline_id
        attributes["stage"] = stage
        attributes["status"] = status
        attributes["metadata"] = dict(metadata) if metadata else {}
        logger.handle(record)

    def log_stage_start(
        self, pipeline_id: str, stage: str, metadata: Mapping[str, Any] | None = None
    ) -> None:
        """Log a ``stage_start`` event (status ``info``)."""
        self.log_event("stage_start", pipeline_id, stage, "info", metadata)

    def log_stage_complete(
        self, pipeline_id: str, stage: str, metadata: Mapping[str, Any] | None = None
    ) -> None:
        """Log a ``stage_complete`` event (status ``success``)."""
        self.log_event("stage_complete", pipeline_id, stage, "success", metadata)

    def log_stage_error(
        self,
        pipeline_id: str,
        stage: str,
        error: BaseException,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Log a ``stage_error`` event (status ``error``) with the exception's traceback.

        The event's metadata gets ``error_type`` (the class name) and ``error`` (the message);
        ``errors.log`` gets the record with ``exc_type``, ``exc_message`` and ``traceback``.
        """
        try:
            message = str(error)
        except Exception:  # an exception's own __str__ may fail; never let that raise here
            message = f"<{type(error).__name__}: message unavailable>"
        details: dict[str, Any] = {"error_type": type(error).__name__, "error": message}
        details.update(metadata or {})
        self.log_event("stage_error", pipeline_id, stage, "error", details, exc_info=error)

    def log_checkpoint(
        self,
        pipeline_id: str,
        stage: str,
        checkpoint_id: str,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Log a ``checkpoint_saved`` event whose metadata holds ``checkpoint_id``."""
        details: dict[str, Any] = {"checkpoint_id": checkpoint_id}
        details.update(metadata or {})
        self.log_event("checkpoint_saved", pipeline_id, stage, "success", details)

    def log_performance(
        self,
        pipeline_id: str,
        stage: str,
        duration_seconds: float,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Log a ``performance_metric`` event whose metadata holds ``duration_seconds``."""
        details: dict[str, Any] = {"duration_seconds": duration_seconds}
        details.update(metadata or {})
        self.log_event("performance_metric", pipeline_id, stage, "info", details)

    def log_data_quality(self, pipeline_id: str, stage: str, metrics: Mapping[str, Any]) -> None:
        """Log a ``data_quality_check`` event whose metadata is ``metrics``."""
        self.log_event("data_quality_check", pipeline_id, stage, "info", metrics)

    # -- reading back ------------------------------------------------------------------------

    def get_recent_events(
        self,
        pipeline_id: str | None = None,
        event_type: str | None = None,
        hours: float | None = 24,
    ) -> list[dict[str, Any]]:
        """Return the events of the last ``hours`` hours (all with ``None``), oldest first.

        Reads the current and rotated event files (see :func:`logging_ext.read_events`).
        """
        since = None if hours is None else time.time() - hours * 3600
        return read_events(
            self.log_dir, pipeline_id=pipeline_id, event_type=event_type, since=since
        )

    def get_pipeline_summary(self, pipeline_id: str) -> dict[str, Any]:
        """Summarise every event of ``pipeline_id`` (see :func:`logging_ext.summarize_events`).

        Has ``total_events``, ``stages_completed`` (in order), ``errors`` (dicts with
        ``stage`` and ``error``), ``warnings``, ``event_counts``, ``started_at``,
        ``finished_at``, ``duration_seconds``, ``status`` and more. An unknown pipeline gives
        a summary with ``total_events == 0`` and status ``"unknown"``.
        """
        return summarize_events(pipeline_id, read_events(self.log_dir, pipeline_id=pipeline_id))

    def cleanup_old_logs(self) -> int:
        """Delete rotated log files older than ``retention_days``; return how many were deleted.

        Active files are never deleted; safe while other processes log or clean up.
        """
        return cleanup_old_logs(self.log_dir, self.retention_days)

    def __repr__(self) -> str:
        return f"PipelineLogger(log_dir={str(self.log_dir)!r})"
