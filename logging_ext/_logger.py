"""``PipelineLogger``: pipeline events and records as JSON lines in one log directory."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from logging_ext._errors import InvalidHandlerArgumentError
from logging_ext._filebase import ProcessSafeFileHandler
from logging_ext._query import EVENTS_SUBDIR, read_events, summarize_events
from logging_ext._retention import delete_expired, standard_families
from logging_ext._sinks import Sinks, acquire, record_factory, release, repair

if TYPE_CHECKING:
    import os
    from types import TracebackType

__all__ = ["PipelineLogger"]

_LEVEL_OF_STATUS = {"error": logging.ERROR, "warning": logging.WARNING}


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
        level: Lowest level written (events are INFO, warnings WARNING, errors ERROR): a
            number or a level name (``"DEBUG"``, any case), as the stdlib accepts.
        console: Also print human-readable lines on stderr (for a ``--verbose`` flag).
        configure_root: Capture records of any logger inside a pipeline context (see above).

    Raises:
        InvalidHandlerArgumentError: A negative size, count or retention, or an unknown level.
    """

    def __init__(
        self,
        log_dir: str | os.PathLike[str] = "logs",
        retention_days: float = 7,
        max_bytes: int = 10 * 1024 * 1024,
        backup_count: int = 5,
        *,
        level: int | str = logging.INFO,
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
        self.level = _level_number(level)
        for sub in (EVENTS_SUBDIR, "errors", "stages"):
            (self.log_dir / sub).mkdir(parents=True, exist_ok=True)
        self._sinks: Sinks | None = acquire(
            self.log_dir,
            level=self.level,
            max_bytes=max_bytes,
            backup_count=backup_count,
            console=console,
            configure_root=configure_root,
        )
        self._events_logger = self._sinks.events_logger
        self._record_factory = record_factory()

    def close(self) -> None:
        """Stop using the directory's handlers; the last logger of the directory detaches them.

        Detaches and closes the handlers (and restores the root level if this package lowered
        it and nobody changed it since) once no other ``PipelineLogger`` of this process uses
        the same directory. Idempotent; logging after ``close`` is silently dropped.
        """
        sinks, self._sinks = self._sinks, None
        if sinks is not None:
            release(sinks)

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
            metadata: Event details, written as a JSON object. Anything that is not a
                mapping is recorded, not refused: the metadata is then
                ``{"invalid_metadata": <the value>, "metadata_error": "<why>"}``.
            exc_info: An exception whose type, message and traceback go to ``errors.log``.
        """
        sinks = self._sinks
        if sinks is None:
            return
        if not sinks.intact():  # the application reconfigured logging: keep the events
            repair(sinks)
        sinks.note_event(event_type, pipeline_id)
        level = _LEVEL_OF_STATUS.get(status, logging.INFO)
        logger = self._events_logger
        if not logger.isEnabledFor(level):
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
        attributes["metadata"] = _metadata(metadata)
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
        details = {"error_type": type(error).__name__, "error": _message(error)}
        details.update(_metadata(metadata))
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
        details.update(_metadata(metadata))
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
        details.update(_metadata(metadata))
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

        Only the rotated siblings of this logger's files (see :func:`logging_ext.cleanup_old_logs`),
        named by the ``namer`` set on each handler, if any. Active files are never deleted;
        safe while other processes log or clean up.
        """
        families = standard_families(self.log_dir)
        sinks = self._sinks
        if sinks is not None:
            handlers = [sinks.events_handler, *sinks.shared]
            namers = {
                h.baseFilename: h.namer for h in handlers if isinstance(h, ProcessSafeFileHandler)
            }
            families = [replace(f, namer=namers.get(str(f.path)) or f.namer) for f in families]
        return delete_expired(families, self.retention_days)

    def __repr__(self) -> str:
        return f"PipelineLogger(log_dir={str(self.log_dir)!r})"


def _level_number(level: object) -> int:
    """Return ``level`` as a number: a level number, or a level name in any case."""
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    if isinstance(level, str):
        number = logging.getLevelNamesMapping().get(level.upper())
        if number is not None:
            return number
    raise InvalidHandlerArgumentError(
        "level", level, "expected a level number or name (DEBUG, INFO, WARNING, ERROR...)"
    )


def _metadata(metadata: object) -> dict[Any, Any]:
    """Return event metadata as a new dict; a value that is not a mapping is wrapped, kept."""
    if metadata is None:
        return {}
    reason = f"metadata must be a mapping, not {type(metadata).__name__}"
    if isinstance(metadata, Mapping):
        try:
            return dict(metadata)
        except Exception as error:  # a broken mapping: record what can be recorded
            reason = f"metadata could not be read: {type(error).__name__}: {_message(error)}"
    return {"invalid_metadata": metadata, "metadata_error": reason}


def _message(error: BaseException) -> str:
    """``str(error)``, or a stand-in when the exception's ``__str__`` itself raises."""
    try:
        return str(error)
    except Exception:
        return f"<exception str() failed: {type(error).__name__}>"
