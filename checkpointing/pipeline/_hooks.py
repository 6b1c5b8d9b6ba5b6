"""What happens around each stage: context, events, restore on resume, saves, run record.

With a fingerprint (``inputs=``, ``version=``, ``cache=`` or a cached ``@step``), a checkpoint is
restored only when its manifest holds the same fingerprint; with ``cache=True`` a stage that the
run cannot restore is looked up in the cross-run cache (:mod:`checkpointing.pipeline._cache`).

:class:`StageHooks` is the host every :class:`~checkpointing.Stage` of a pipeline calls when it
is entered, started, completed, failed or exited, and when it saves or reports data quality.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from checkpointing._errors import (
    CheckpointDecodeError,
    CheckpointNotFoundError,
    FingerprintError,
    IntegrityError,
)
from checkpointing.pipeline import _cache
from checkpointing.pipeline._fingerprint import explain, fingerprint
from checkpointing.pipeline._origins import remember
from checkpointing.store._manifest import content_hash

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

    from checkpointing.pipeline._cache import CacheIndex, RerunPolicy
    from checkpointing.pipeline._events import EventLog
    from checkpointing.pipeline._fingerprint import Fingerprint
    from checkpointing.pipeline._otel import Tracing
    from checkpointing.pipeline._profiling import Span
    from checkpointing.pipeline._run import RunTracker
    from checkpointing.pipeline._stage import Stage
    from checkpointing.store._manager import CheckpointManager

__all__: list[str] = []

_log = logging.getLogger("checkpointing.pipeline")


class StageHooks:
    """The stage host of one pipeline run.

    Args:
        run: The run (identity, claim and record).
        events: Where events go.
        manager: The checkpoint store, or ``None`` when checkpoints are disabled.
        log_context: ``logging_ext.log_context``, entered around each stage.
        rerun: Which stages rerun although they could be restored.
        cache: The cross-run cache of this pipeline name (``None`` without a store).
        tracing: OpenTelemetry spans of the run, or ``None`` when it is not configured.
    """

    def __init__(
        self,
        run: RunTracker,
        events: EventLog,
        manager: CheckpointManager | None,
        log_context: Callable[..., Any],
        *,
        rerun: RerunPolicy,
        cache: CacheIndex | None,
        tracing: Tracing | None = None,
    ) -> None:
        self._run = run
        self._events = events
        self._manager = manager
        self._log_context = log_context
        self._rerun = rerun
        self._cache = cache
        # id() of a running stage -> "forced" (told to rerun), "broken" (its cache entry was
        # unusable: replace it) or "hit" (restored from the cache)
        self._notes: dict[int, str] = {}
        self._tracing = tracing

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
        """Fingerprint the stage; log ``stage_start``; restore it when it can be (resume, cache)."""
        if self._tracing is not None:
            self._tracing.stage_started(self.pipeline_id, stage)
        metadata = self._identity_metadata(stage)
        spec = stage._spec
        fp = None
        if spec is not None and spec.active:
            try:
                fp = fingerprint(spec, stage=stage.name, key=stage.key)
            except FingerprintError:
                self.event("stage_start", stage.name, "info", metadata)
                raise
            stage._set_fingerprint(fp)
            metadata["fingerprint"] = fp.sha256
        cached = fp is not None and spec is not None and spec.cache and self._cache is not None
        if self._run.resumed:
            metadata["resumed"] = True
        self.event("stage_start", stage.name, "info", metadata)
        forced = self._rerun.reason(stage.name)  # always asked: rerun_from starts at its stage
        if self._manager is None or not (self._run.resumed or cached):
            return
        if forced is not None:
            self._notes[id(stage)] = "forced"
            self._rerun_event(stage, forced, "info")
            return
        reasons: list[tuple[str, bool]] = []  # (why not restored, whether that is a warning)
        if self._run.resumed and self._restore(stage, fp, reasons):
            return
        if cached and fp is not None and self._restore_cached(stage, fp, reasons):
            return
        text = "; ".join(dict.fromkeys(r for r, _ in reasons)) or "no checkpoint"
        self._rerun_event(stage, text, "warning" if any(w for _, w in reasons) else "info")

    def completed(self, stage: Stage) -> None:
        """Record the execution; commit its result to the cache; log ``stage_complete``."""
        try:
            metadata = self._complete(stage)
        except BaseException as error:
            if self._tracing is not None:
                self._tracing.stage_ended(stage, self._stage_metadata(stage), error)
            raise
        if self._tracing is not None:
            self._tracing.stage_ended(stage, metadata, None)

    def _complete(self, stage: Stage) -> dict[str, Any]:
        fp = stage._fingerprint
        extra = {} if fp is None else {"fingerprint": fp.sha256}
        note = self._notes.pop(id(stage), None)
        cached_from = stage.restored_from if note == "hit" else None
        if cached_from is not None:
            extra["cached_from"] = cached_from
        if stage.checkpoint_ids or cached_from is not None:
            self._run.stage_completed(stage.identity, stage.checkpoint_ids, extra)
        if (
            fp is not None
            and stage.checkpoint_ids
            and stage._spec is not None
            and stage._spec.cache
        ):
            self._commit(stage, fp, replace=note in ("forced", "broken"))
        metadata = self._stage_metadata(stage)
        if cached_from is not None:
            metadata["cached"] = True
        self.event("stage_complete", stage.name, "success", metadata)
        self._events.performance(self.pipeline_id, stage.name, metadata["duration_seconds"])
        return metadata

    def failed(self, stage: Stage, error: BaseException) -> None:
        """Record the failure in the run record; log ``stage_error``."""
        self._notes.pop(id(stage), None)
        metadata = self._stage_metadata(stage)
        try:
            self._run.stage_failed(stage.identity, error)
            self._events.stage_error(self.pipeline_id, stage.name, error, metadata)
        finally:
            if self._tracing is not None:
                self._tracing.stage_ended(stage, metadata, error)

    # -- OpenTelemetry ------------------------------------------------------------------------

    def run_started(self, metadata: dict[str, Any]) -> None:
        """Start the run's OpenTelemetry span (nothing when it is not configured)."""
        if self._tracing is not None:
            name = str(metadata.get("name", self.pipeline_id))
            self._tracing.run_started(name, {"pipeline_id": self.pipeline_id} | metadata)

    def run_ended(self, metadata: dict[str, Any], error: BaseException | None) -> None:
        """End the run's OpenTelemetry span."""
        if self._tracing is not None:
            self._tracing.run_ended(metadata, error)

    def span_opened(self, stage: Stage, span: Span, parent: Span | None) -> Any:
        """The OpenTelemetry span of ``s.span()`` (``None`` when tracing is off)."""
        if self._tracing is None:
            return None
        return self._tracing.span_opened(self.pipeline_id, stage, span, parent)

    def span_closed(self, handle: Any, record: dict[str, Any], error: BaseException | None) -> None:
        """End the OpenTelemetry span of ``s.span()``."""
        if self._tracing is not None:
            self._tracing.end(handle, {"span": record["name"]} | record, error)

    def _loaded(self, stage: Stage, start_ns: int, timings: dict[str, float]) -> None:
        """The OpenTelemetry span of the load that restored ``stage``."""
        details = {"checkpoint_id": stage.restored_from, "rows": stage.rows, "timings_ms": timings}
        self._operation("checkpoint.load", stage, start_ns, details)

    def _operation(self, name: str, stage: Stage, start: int, metadata: dict[str, Any],
                   error: BaseException | None = None) -> None:  # fmt: skip
        if self._tracing is not None:
            self._tracing.operation(name, self.pipeline_id, stage, start, metadata, error=error)

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
        fp = stage._fingerprint
        manager = self._manager
        timings: dict[str, float] = {}
        start_ns = time.time_ns()
        try:
            checkpoint_id = manager.save_checkpoint(
                self.pipeline_id,
                stage.name,
                data,
                metadata=metadata or None,
                fingerprint=None if fp is None else fp.to_json(),
                timings=timings,
            )
        except BaseException as error:
            self._operation("checkpoint.save", stage, start_ns, {"rows": len(data)}, error)
            raise
        remember(data, lambda: content_hash(manager.get_state(checkpoint_id)))
        details = {"rows": len(data), "timings_ms": timings}
        self._events.checkpoint_saved(self.pipeline_id, stage.name, checkpoint_id, details)
        self._operation(
            "checkpoint.save", stage, start_ns, {"checkpoint_id": checkpoint_id} | details
        )
        return checkpoint_id

    def data_quality(self, stage: Stage, metrics: dict[str, Any]) -> None:
        """Log ``data_quality_check``."""
        self._events.data_quality(self.pipeline_id, stage.name, metrics)

    # -- restore ------------------------------------------------------------------------------

    def _restore(
        self, stage: Stage, fp: Fingerprint | None, reasons: list[tuple[str, bool]]
    ) -> bool:
        """Restore the stage from this run's own checkpoints; note why not in ``reasons``."""
        assert self._manager is not None
        failures: list[str] = []
        stale: list[str] = []
        for checkpoint_id in self._run.candidates(stage.identity):
            timings: dict[str, float] = {}
            start_ns = time.time_ns()
            try:
                if fp is not None:
                    state = self._manager.get_state(checkpoint_id)
                    recorded = state.get("fingerprint")
                    if not isinstance(recorded, dict) or recorded.get("sha256") != fp.sha256:
                        old = recorded.get("document") if isinstance(recorded, dict) else None
                        stale.append(explain(old, fp.document))
                        continue
                loaded = self._manager.load_checkpoint(checkpoint_id, timings=timings)
            except IntegrityError as error:
                failures.append(f"checkpoint {checkpoint_id} failed verification: {error.reason}")
                continue
            except CheckpointDecodeError as error:
                failures.append(f"checkpoint {checkpoint_id} cannot be decoded: {error.reason}")
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
            status = "warning" if failures else "success"
            self._restored(stage, loaded, reason, status, {"timings_ms": timings})
            self._loaded(stage, start_ns, timings)
            return True
        reasons.extend((f, True) for f in failures)
        reasons.extend((s, False) for s in stale)
        if not reasons:
            reasons.append(("no checkpoint", False))
        return False

    def _restore_cached(
        self, stage: Stage, fp: Fingerprint, reasons: list[tuple[str, bool]]
    ) -> bool:
        """Restore the stage from the cross-run cache; note why not in ``reasons``."""
        assert self._manager is not None and self._cache is not None
        timings: dict[str, float] = {}
        start_ns = time.time_ns()
        loaded, reason, broken = _cache.find(self._manager, self._cache, fp, timings=timings)
        if loaded is None:
            if broken:
                self._notes[id(stage)] = "broken"
            if reasons == [("no checkpoint", False)]:
                reasons.clear()
            reasons.append((reason, broken))
            return False
        self._notes[id(stage)] = "hit"
        owner = loaded["state"]["pipeline_id"]
        extra = {"cache_hit": True, "cached_run": owner, "timings_ms": timings}
        self._restored(stage, loaded, reason, "success", extra)
        self._loaded(stage, start_ns, timings)
        return True

    def _restored(
        self, stage: Stage, loaded: dict[str, Any], reason: str, status: str, extra: dict[str, Any]
    ) -> None:
        state = loaded["state"]
        data_hash = content_hash(state)
        remember(loaded["data"], lambda: data_hash)
        stage._set_restored(state["checkpoint_id"], loaded["data"], reason)
        self.event(
            "stage_restored",
            stage.name,
            status,
            self._identity_metadata(stage)
            | {"checkpoint_id": state["checkpoint_id"], "rows": stage.rows, "reason": reason}
            | extra,
        )

    def _rerun_event(self, stage: Stage, reason: str, status: str) -> None:
        stage._set_reason(reason)
        self.event(
            "stage_rerun", stage.name, status, self._identity_metadata(stage) | {"reason": reason}
        )

    def _commit(self, stage: Stage, fp: Fingerprint, *, replace: bool) -> None:
        """Make this execution's last checkpoint the cached result of its fingerprint."""
        assert self._cache is not None
        entry = _cache.make_entry(fp, stage.checkpoint_ids[-1], self.pipeline_id, stage.key)
        try:
            self._cache.commit(fp.sha256, entry, replace=replace)
            self._cache.remember_latest(stage.name, stage.key, entry)
        except Exception:  # the cache only saves work: a failure to fill it is not the stage's
            _log.warning("could not record stage %s in the cache", stage.name, exc_info=True)

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
        measured = stage._measured
        assert measured is not None
        metadata["duration_seconds"] = measured.duration_seconds
        metadata["cpu_seconds"] = measured.cpu_seconds
        metadata["process_cpu_seconds"] = measured.process_cpu_seconds
        metadata["peak_rss_growth_bytes"] = measured.peak_rss_growth_bytes
        if stage._spans:
            metadata["spans"] = [dict(span) for span in stage._spans]
        if stage.rows is not None:
            metadata["rows"] = stage.rows
        if stage.checkpoint_ids:
            metadata["checkpoint_ids"] = list(stage.checkpoint_ids)
        if stage.restored:
            metadata["restored"] = True
            metadata["restored_from"] = stage.restored_from
        metadata |= self._identity_metadata(stage)
        if self._run.resumed or stage.reason != "new run":
            metadata["reason"] = stage.reason
        return metadata
