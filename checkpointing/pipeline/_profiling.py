"""What a stage measures about itself: wall time, CPU time, peak RSS growth, and named spans.

:class:`Clock` is started when a stage is entered and read when it ends: two
``time.perf_counter`` readings, two ``time.thread_time`` readings and two
``resource.getrusage`` calls (process CPU time and the process's peak resident set size in one
system call), no thread. :class:`Span` is what ``with s.span("download"):`` enters; a stage's
spans are kept in a list on the stage and written as the ``spans`` field of its
``stage_complete`` (or ``stage_error``) event, so a stage without spans costs nothing more.
"""

from __future__ import annotations

import sys
import time
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from checkpointing.storage._names import validate_name

if TYPE_CHECKING:
    from types import TracebackType

    from checkpointing.pipeline._stage import Stage

__all__: list[str] = []

# ru_maxrss is in KiB on Linux and the BSDs, in bytes on macOS.
_RSS_UNIT = 1 if sys.platform == "darwin" else 1024


if sys.platform == "win32":  # no getrusage: process CPU time only, no peak RSS

    def _usage() -> tuple[float, int]:
        return time.process_time(), 0

else:
    import resource

    def _usage() -> tuple[float, int]:
        """Process CPU seconds (user + system) and peak RSS in bytes, in one system call."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime, usage.ru_maxrss * _RSS_UNIT


class Clock:
    """The readings taken when a stage starts; :meth:`read` gives what the stage cost."""

    __slots__ = ("process_cpu", "rss", "thread_cpu", "wall")

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.thread_cpu = time.thread_time()
        self.process_cpu, self.rss = _usage()

    def read(self) -> Measured:
        """What elapsed since the clock started."""
        wall = time.perf_counter() - self.wall
        thread_cpu = time.thread_time() - self.thread_cpu
        process_cpu, rss = _usage()
        return Measured(wall, thread_cpu, process_cpu - self.process_cpu, rss - self.rss)


class Measured:
    """Wall time, thread and process CPU time (seconds) and peak RSS growth (bytes).

    ``peak_rss_growth_bytes`` is how much the process's *peak* resident set size rose during
    the stage: 0 when the stage stayed below a peak reached before it (or on a platform
    without ``getrusage``), never the stage's own allocation.
    """

    __slots__ = ("cpu_seconds", "duration_seconds", "peak_rss_growth_bytes", "process_cpu_seconds")

    def __init__(self, wall: float, thread_cpu: float, process_cpu: float, rss: int) -> None:
        self.duration_seconds = wall
        self.cpu_seconds = thread_cpu
        self.process_cpu_seconds = process_cpu
        self.peak_rss_growth_bytes = rss


_current_span: ContextVar[Span | None] = ContextVar("checkpointing_current_span", default=None)


class Span:
    """A named part of a running stage: ``with s.span("download"):`` (see :meth:`Stage.span`).

    Spans nest: a span entered inside another one of the same stage (same thread or task, or
    a thread started with a copy of its context) is its child. Each span is single-use.
    """

    __slots__ = ("_otel", "_record", "_stage", "_start", "_token", "name")

    def __init__(self, stage: Stage, name: str) -> None:
        self.name = validate_name(name, what="span name")
        self._stage = stage
        self._record: dict[str, Any] | None = None
        self._token: Any = None
        self._start = 0.0
        self._otel: Any = None

    def __enter__(self) -> Span:
        if self._record is not None:
            msg = f"span {self.name!r} was already entered; create a new one with s.span(name)"
            raise RuntimeError(msg)
        stage = self._stage
        stage._require_running("span")
        spans = stage._spans
        parent = _current_span.get()
        if parent is not None and (parent._stage is not stage or parent._record is None):
            parent = None  # a span of another stage (a nested stage): not this span's parent
        record: dict[str, Any] = {"name": self.name, "index": len(spans)}
        if parent is not None:
            assert parent._record is not None
            record["parent"] = parent._record["index"]
        spans.append(record)
        self._record = record
        self._token = _current_span.set(self)
        self._otel = stage._host.span_opened(stage, self, parent)
        self._start = time.perf_counter()
        assert stage._clock is not None
        record["start_seconds"] = self._start - stage._clock.wall
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        record = self._record
        assert record is not None
        record["duration_seconds"] = time.perf_counter() - self._start
        if exc_type is not None:
            record["error_type"] = exc_type.__name__
        token, self._token = self._token, None
        try:
            _current_span.reset(token)
        except ValueError:  # exited in another context than it was entered in
            _current_span.set(None)
        if self._otel is not None:
            self._stage._host.span_closed(self._otel, record, exc)
