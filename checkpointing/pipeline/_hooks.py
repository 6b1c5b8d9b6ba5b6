"""What happens around each stage: context, events, restore on resume, saves, run record.

:class:`StageHooks` is the host every :class:`~checkpointing.Stage` of a pipeline calls when it
is entered, started, completed, failed or exited, and when it saves or reports data quality.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from checkpointing._errors import CheckpointNotFoundError, IntegrityError

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

    from checkpointing.pipeline._events import EventLog
    from checkpointing.pipeline._run import RunTracker
    from checkpointing.pipeline._stage import Stage
    from checkpointing.store._manager import CheckpointManager

__all__: list[str] = []


class StageHooks:
    """The stage host of one pipeline run.

    Args:
        run: The run (identity, claim and record).
        events: Where events go.
        manager: The checkpoint store, or ``None`` when checkpoints are disabled.
        log_context: ``logging_ext.log_context``, entered around each stage.
    """

    def __init__(
        self,
        run: RunTracker,
        events: EventLog,
        manager: CheckpointManager | None,
        log_context: Callable[..., Any],
    ) -> None:
        self._run = run
        self._events = events
        self._manager = manager
        self._log_context = log_context

    @property
    def pipeline_id(self) -> str:
        """The id of the run the stages belong to."""
        return self._run.pipeline_id

    def event(
        self, event_type: str, stage: str | None, status: str, metadata: dict[str, Any]
    ) -> None:
        """Log one event of this run."""
        self._events.event(event_type, self._run.pipeline_id, stage, status, metadata)

    # -- life cycle ---------------------------------------------------------------------------

    def entered(self, stage: Stage) -> Any:
        """Start the run if needed, identify the execution, enter the logging context."""
        if self._run.finished:
            msg = f"pipeline {self.pipeline_id!r} has ended; start a new Pipeline"
            raise RuntimeError(msg)
        identity = self._run.identify(stage.name, stage.key)
        self._run.start()
        stage._set_identity(identity)
        context = self._log_context(pipeline_id=self.pipeline_id, stage=stage.name)
        context.__enter__()
        return context

    def exited(self, stage: Stage, context: Any) -> None:
        """Leave the logging context entered by :meth:`entered`."""
        context.__exit__(None, None, None)

    def started(self, stage: Stage) -> None:
        """Log ``stage_start``; in a resumed run, restore the stage if it can be."""
        metadata = self._identity_metadata(stage)
        if not self._run.resumed:
            self.event("stage_start", stage.name, "info", metadata)
            return
        metadata["resumed"] = True
        self.event("stage_start", stage.name, "info", metadata)
        self._restore(stage)

    def completed(self, stage: Stage) -> None:
        """Record the execution's checkpoints; log ``stage_complete`` and its duration."""
        if stage.checkpoint_ids:
            self._run.stage_completed(stage.identity, stage.checkpoint_ids)
        metadata = self._stage_metadata(stage)
        self.event("stage_complete", stage.name, "success", metadata)
        self._events.performance(self.pipeline_id, stage.name, metadata["duration_seconds"])

    def failed(self, stage: Stage, error: BaseException) -> None:
        """Record the failure in the run record; log ``stage_error``."""
        self._run.stage_failed(stage.identity, error)
        self._events.stage_error(self.pipeline_id, stage.name, error, self._stage_metadata(stage))

    # -- what the block calls -----------------------------------------------------------------

    def save(self, stage: Stage, data: pd.DataFrame, metadata: dict[str, Any]) -> str | None:
        """Checkpoint ``data`` for ``stage``; ``None`` (and an event) when disabled."""
        if self._manager is None:
            self.event(
                "checkpoint_skipped",
                stage.name,
                "info",
                {"reason": "checkpoints disabled", "rows": len(data)},
            )
            return None
        checkpoint_id = self._manager.save_checkpoint(
            self.pipeline_id, stage.name, data, metadata=metadata or None
        )
        self._events.checkpoint_saved(self.pipeline_id, stage.name, checkpoint_id)
        return checkpoint_id

    def data_quality(self, stage: Stage, metrics: dict[str, Any]) -> None:
        """Log ``data_quality_check``."""
        self._events.data_quality(self.pipeline_id, stage.name, metrics)

    # -- restore ------------------------------------------------------------------------------

    def _restore(self, stage: Stage) -> None:
        assert self._manager is not None
        failures: list[str] = []
        for checkpoint_id in self._run.candidates(stage.identity):
            try:
                loaded = self._manager.load_checkpoint(checkpoint_id)
            except IntegrityError as error:
                failures.append(f"checkpoint {checkpoint_id} failed verification: {error.reason}")
                continue
            except CheckpointNotFoundError:
                failures.append(f"checkpoint {checkpoint_id} not found")
                continue
            state = loaded["state"]
            if (state["pipeline_id"], state["stage"]) != (self.pipeline_id, stage.name):
                failures.append(
                    f"checkpoint {checkpoint_id} belongs to pipeline {state['pipeline_id']!r} "
                    f"stage {state['stage']!r}, not to this run and stage"
                )
                continue
            reason = f"restored from checkpoint {checkpoint_id}"
            if failures:
                reason += " (newer " + "; ".join(failures) + ")"
            stage._set_restored(checkpoint_id, loaded["data"], reason)
            self.event(
                "stage_restored",
                stage.name,
                "warning" if failures else "success",
                self._identity_metadata(stage)
                | {"checkpoint_id": checkpoint_id, "rows": stage.rows, "reason": reason},
            )
            return
        reason = "; ".join(failures) if failures else "no checkpoint"
        stage._set_reason(reason)
        self.event(
            "stage_rerun",
            stage.name,
            "warning" if failures else "info",
            self._identity_metadata(stage) | {"reason": reason},
        )

    # -- event metadata -----------------------------------------------------------------------

    @staticmethod
    def _identity_metadata(stage: Stage) -> dict[str, Any]:
        metadata: dict[str, Any] = {}
        if stage.parent is not None:
            metadata["parent_stage"] = stage.parent
        if stage.key is not None:
            metadata["key"] = stage.key
        elif stage.identity.occurrence != 1:
            metadata["occurrence"] = stage.identity.occurrence
        return metadata

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
        metadata |= self._identity_metadata(stage)
        if self._run.resumed:
            metadata["reason"] = stage.reason
        return metadata
