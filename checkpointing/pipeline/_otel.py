"""OpenTelemetry spans of a run: the run, each stage, each ``s.span()`` and checkpoint operation.

Only used when OpenTelemetry is configured: a ``tracer_provider`` given to the ``Pipeline``, or
a global tracer provider set by the application (``trace.set_tracer_provider``) before the
``Pipeline`` is created. Nothing here imports ``opentelemetry`` unless one of those holds: without
a provider passed, the global one is looked up only when the application has already imported
``opentelemetry.trace`` itself, so a process that does not use OpenTelemetry never loads it.

Span names: ``run <pipeline name>``, ``stage <stage name>``, ``span <span name>``,
``checkpoint.save`` and ``checkpoint.load``. Attributes are the fields of the matching event
(``pipeline_start``/``pipeline_complete``, ``stage_complete``/``stage_error``, the span's record,
``checkpoint_saved``/``stage_restored``) under ``stagepoint.``; nested dicts are flattened with
dots (``stagepoint.timings_ms.encode``). Stage spans are children of the run's span (or of their
parent stage's span), spans of the stage's (or of their enclosing span's), checkpoint operations
of the stage's. A block that raised ends its span with status ERROR and the exception recorded.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from checkpointing.pipeline._profiling import Span
    from checkpointing.pipeline._stage import Stage

__all__: list[str] = []

_PREFIX = "stagepoint."
_SCALARS = (str, bool, int, float)


def tracing_for(tracer_provider: Any) -> Tracing | None:
    """The tracing of one pipeline, or ``None`` when OpenTelemetry is not configured.

    Raises:
        ImportError: ``tracer_provider`` was given but ``opentelemetry-api`` is not installed.
    """
    trace: Any = sys.modules.get("opentelemetry.trace")
    if tracer_provider is None:
        if trace is None:  # never imported by the application: not configured, import nothing
            return None
        provider = trace.get_tracer_provider()
        if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
            return None
    else:
        try:
            trace = importlib.import_module("opentelemetry.trace")
        except ImportError as exc:
            msg = "tracer_provider needs opentelemetry-api: pip install 'stagepoint[otel]'"
            raise ImportError(msg) from exc
        provider = tracer_provider
    return Tracing(trace, provider.get_tracer("stagepoint"))


def attributes(metadata: dict[str, Any], prefix: str = _PREFIX) -> dict[str, Any]:
    """Event metadata as OpenTelemetry attributes: scalars and lists of one scalar type."""
    found: dict[str, Any] = {}
    for key, value in metadata.items():
        name = prefix + str(key)
        if isinstance(value, _SCALARS):
            found[name] = value
        elif isinstance(value, dict):
            found.update(attributes(value, name + "."))
        elif isinstance(value, list | tuple) and value:
            kinds = {type(v) for v in value}
            if len(kinds) == 1 and kinds <= set(_SCALARS):
                found[name] = list(value)
            elif key != "spans":  # spans are child spans of their own
                found[name] = [str(v) for v in value]
    return found


class Tracing:
    """Starts and ends the OpenTelemetry spans of one pipeline's run."""

    def __init__(self, trace: Any, tracer: Any) -> None:
        self._trace = trace
        self._tracer = tracer
        self._run: Any = None
        self._stages: dict[int, Any] = {}  # id() of a running stage -> its span

    def _context(self, parent: Any) -> Any:
        return None if parent is None else self._trace.set_span_in_context(parent)

    def start(self, name: str, parent: Any, attrs: dict[str, Any] | None = None) -> Any:
        """Start a span named ``name`` under ``parent`` (a span or ``None``: the run's span)."""
        parent = self._run if parent is None else parent
        return self._tracer.start_span(name, context=self._context(parent), attributes=attrs)

    def end(self, span: Any, metadata: dict[str, Any], error: BaseException | None) -> None:
        """Set the event's fields on ``span`` and end it (with status ERROR after ``error``)."""
        self._finish(span, metadata, error)
        span.end()

    def _finish(self, span: Any, metadata: dict[str, Any], error: BaseException | None) -> None:
        span.set_attributes(attributes(metadata))
        if error is not None:
            span.set_attribute(_PREFIX + "error_type", type(error).__name__)
            span.record_exception(error)
            status = self._trace.Status(self._trace.StatusCode.ERROR, type(error).__name__)
            span.set_status(status)

    def run_started(self, name: str, metadata: dict[str, Any]) -> None:
        """Start the run's span (the root of the stages' spans)."""
        self._run = self._tracer.start_span(f"run {name}", attributes=attributes(metadata))

    def run_ended(self, metadata: dict[str, Any], error: BaseException | None) -> None:
        """End the run's span."""
        run, self._run = self._run, None
        if run is not None:
            self.end(run, metadata, error)

    def stage_started(self, pipeline_id: str, stage: Stage) -> None:
        """Start the span of ``stage``: a child of its parent stage's, or of the run's."""
        parent = None if stage._parent is None else self._stages.get(id(stage._parent))
        self._stages[id(stage)] = self.start(
            f"stage {stage.name}", parent, _where(pipeline_id, stage)
        )

    def stage_ended(
        self, stage: Stage, metadata: dict[str, Any], error: BaseException | None
    ) -> None:
        """End the span of ``stage`` with its ``stage_complete`` (or ``stage_error``) fields."""
        span = self._stages.pop(id(stage), None)
        if span is not None:
            self.end(span, metadata, error)

    def span_opened(self, pipeline_id: str, stage: Stage, span: Span, parent: Span | None) -> Any:
        """Start the span of ``s.span()``: a child of its enclosing span's, or of the stage's."""
        above = self._stages.get(id(stage)) if parent is None else parent._otel
        return self.start(f"span {span.name}", above, _where(pipeline_id, stage))

    def operation(
        self,
        name: str,
        pipeline_id: str,
        stage: Stage,
        start_ns: int,
        metadata: dict[str, Any],
        *,
        error: BaseException | None,
    ) -> None:
        """Record a checkpoint save or load of ``stage`` that started at ``start_ns`` (since the
        epoch) and ends now, as a child of the stage's span."""
        metadata = {"pipeline_id": pipeline_id, "stage": stage.name} | metadata
        parent = self._stages.get(id(stage)) or self._run
        span = self._tracer.start_span(name, context=self._context(parent), start_time=start_ns)
        self._finish(span, metadata, error)
        span.end()


def _where(pipeline_id: str, stage: Stage) -> dict[str, Any]:
    return {_PREFIX + "pipeline_id": pipeline_id, _PREFIX + "stage": stage.name}
