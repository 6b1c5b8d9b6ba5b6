"""The pipeline's events: logging set-up for one ``Pipeline`` and the events it emits.

``Pipeline(logging=...)`` takes ``True`` (a ``PipelineLogger`` of its own for ``log_dir``), a
``PipelineLogger`` to share, or ``False``/``None`` (no events, no handler attached). This module
turns that choice into an :class:`EventLog` that emits every event of the run, and attaches the
per-stage log files when asked.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import os
    from collections.abc import Mapping

    from logging_ext import PipelineLogger

__all__: list[str] = []


class EventLog:
    """Emits the events of one run through an optional ``PipelineLogger``.

    Args:
        logging: ``True`` to create a ``PipelineLogger`` (released by :meth:`close`), a
            ``PipelineLogger`` to share (never closed here), or ``False``/``None`` for none.
        log_dir: Directory of the logger created for ``logging=True``.
        retention_days: Log retention of that logger.
        level: Level of that logger.
        console: Whether that logger also writes to stderr.
        stage_logs: Also write every record emitted inside a stage to ``<stage>.log``.
        stage_log_dir: Directory of those files (default ``<log_dir>/stages``).
        performance_events: Also log a ``performance_metric`` event after each stage and
            fan-out (its ``duration_seconds`` is in ``stage_complete`` / ``map_complete``).
    """

    def __init__(
        self,
        logging: bool | PipelineLogger | None,
        *,
        log_dir: str | os.PathLike[str],
        retention_days: float,
        level: int | str,
        console: bool,
        stage_logs: bool,
        stage_log_dir: str | os.PathLike[str] | None,
        performance_events: bool = False,
    ) -> None:
        self.logger: PipelineLogger | None
        self._performance_events = performance_events
        self._owns_logger = logging is True
        if logging is True:
            from logging_ext import PipelineLogger

            self.logger = PipelineLogger(
                log_dir, retention_days=retention_days, level=level, console=console
            )
        elif logging is False or logging is None:
            self.logger = None
        else:
            self.logger = logging
        if stage_logs:
            from checkpointing.pipeline._stage_logs import attach_stage_logs

            attach_stage_logs(
                stage_log_dir if stage_log_dir is not None else Path(log_dir) / "stages"
            )

    def close(self) -> None:
        """Release the logger this object created (idempotent)."""
        if self._owns_logger and self.logger is not None:
            self.logger.close()

    def event(
        self,
        event_type: str,
        pipeline_id: str,
        stage: str | None,
        status: str,
        metadata: Mapping[str, Any],
        *,
        exc_info: BaseException | None = None,
        created: float | None = None,
    ) -> None:
        """Log one event of the run (nothing without a logger).

        ``exc_info`` sends the exception's traceback to ``errors.log``; ``created`` stamps an
        event that happened earlier or elsewhere (a fan-out's worker) with its own time.
        """
        if self.logger is not None:
            self.logger.log_event(
                event_type,
                pipeline_id,
                stage=stage,
                status=status,
                metadata=metadata,  # copied by log_event
                exc_info=exc_info,
                created=created,
            )

    @property
    def level(self) -> int | None:
        """The level of the logger, or ``None`` when no events are logged."""
        return None if self.logger is None else self.logger.level

    def stage_error(
        self, pipeline_id: str, stage: str, error: BaseException, metadata: dict[str, Any]
    ) -> None:
        """Log ``stage_error`` with the error's type, message and traceback."""
        if self.logger is not None:
            self.logger.log_stage_error(pipeline_id, stage, error, metadata)

    def checkpoint_saved(
        self, pipeline_id: str, stage: str, checkpoint_id: str, metadata: dict[str, Any]
    ) -> None:
        """Log ``checkpoint_saved`` (``metadata``: the save's ``rows`` and ``timings_ms``)."""
        if self.logger is not None:
            self.logger.log_checkpoint(pipeline_id, stage, checkpoint_id, metadata)

    def performance(self, pipeline_id: str, stage: str, seconds: float) -> None:
        """Log ``performance_metric`` for a stage, when asked for (``performance_events``)."""
        if self.logger is not None and self._performance_events:
            self.logger.log_performance(pipeline_id, stage, seconds)

    def data_quality(self, pipeline_id: str, stage: str, metrics: dict[str, Any]) -> None:
        """Log ``data_quality_check``."""
        if self.logger is not None:
            self.logger.log_data_quality(pipeline_id, stage, metrics)

    def cleanup_old_logs(self) -> int | None:
        """Apply log retention; ``None`` when there is no logger."""
        return None if self.logger is None else self.logger.cleanup_old_logs()
