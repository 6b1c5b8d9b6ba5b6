"""``Stage``: the with-statement around one step of a pipeline.

A stage is created by :meth:`checkpointing.Pipeline.stage` and entered exactly once, with
``with`` or ``async with``. Entering sets the logging context (``pipeline_id`` and ``stage``
stamped on every record), restores the stage from its checkpoint when the run is resumed, and
logs ``stage_start``; leaving logs ``stage_complete`` (with what the stage cost: wall and CPU
time, peak RSS growth, its spans) or, when the block raised, ``stage_error`` before the exception
propagates unchanged.
"""

from __future__ import annotations

import enum
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

from checkpointing.pipeline._profiling import Clock, Span

if TYPE_CHECKING:
    from types import TracebackType

    import pandas as pd

    from checkpointing.pipeline._fingerprint import Fingerprint, FingerprintSpec
    from checkpointing.pipeline._hooks import StageHooks
    from checkpointing.pipeline._profiling import Measured
    from checkpointing.pipeline._run import StageIdentity

__all__ = ["Stage", "StageState"]


class StageState(enum.Enum):
    """The life cycle of a :class:`Stage`: ``PENDING → RUNNING → DONE | FAILED``.

    A stage leaves ``PENDING`` once, when it is entered; entering it again in any other state
    raises ``RuntimeError``.
    """

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


_current_stage: ContextVar[Stage | None] = ContextVar("checkpointing_current_stage", default=None)


class Stage:
    """One stage of a pipeline run; use it as ``with pipeline.stage("name") as s:``.

    A ``Stage`` is single-use: it is entered once (``with`` or ``async with``) and entering it a
    second time raises ``RuntimeError``. Stages nest: a stage entered while another stage is
    running in the same context (thread, asyncio task, or a thread started with a copy of that
    context) is a child stage; its records carry the child's name, its events carry
    ``parent_stage``, and the parent's context comes back when it exits.

    The block never swallows an exception: the same exception object propagates after
    ``stage_error`` was logged. A stage object may be used from the threads it starts, but is
    entered and exited by one thread or task.

    The class is a little over ~300 lines because its properties are the API users read in a
    block (``restored``, ``reason``, ``data``, ``fingerprint``, ...), each documented here.
    """

    __slots__ = (
        "_checkpoint_ids",
        "_clock",
        "_context",
        "_data",
        "_fingerprint",
        "_has_data",
        "_host",
        "_identity",
        "_measured",
        "_metadata",
        "_parent",
        "_reason",
        "_restored_from",
        "_rows",
        "_spans",
        "_spec",
        "_state",
        "_token",
        "key",
        "name",
    )

    def __init__(
        self,
        host: StageHooks,
        name: str,
        *,
        key: str | None = None,
        spec: FingerprintSpec | None = None,
    ) -> None:
        self._host = host
        self.name = name
        """The stage name (validated; it is part of checkpoint ids and event records)."""
        self.key = key
        """The explicit key that tells this execution apart from others of the same name in
        the run (``None``: executions without a key are told apart by their order)."""
        self._identity: StageIdentity | None = None
        self._spec = spec
        self._fingerprint: Fingerprint | None = None
        self._state = StageState.PENDING
        self._data: Any = None
        self._has_data = False
        self._rows: int | None = None
        self._checkpoint_ids: list[str] = []
        self._metadata: dict[str, Any] = {}
        self._restored_from: str | None = None
        self._reason = "new run"
        self._parent: Stage | None = None
        self._token: Token[Stage | None] | None = None
        self._context: Any = None
        self._clock: Clock | None = None
        self._measured: Measured | None = None
        self._spans: list[dict[str, Any]] = []

    def __repr__(self) -> str:
        return f"<Stage {self.name!r} {self._state.value} of {self._host.pipeline_id!r}>"

    # -- life cycle ---------------------------------------------------------------------------

    def __enter__(self) -> Stage:
        self._begin()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._end(exc)

    async def __aenter__(self) -> Stage:
        self._begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._end(exc)

    def _begin(self) -> None:
        if self._state is not StageState.PENDING:
            msg = (
                f"stage {self.name!r} was already entered (it is {self._state.value}); "
                "a Stage is single-use: create a new one with pipeline.stage(name)"
            )
            raise RuntimeError(msg)
        self._context = self._host.entered(self)
        self._state = StageState.RUNNING
        self._parent = _current_stage.get()
        self._token = _current_stage.set(self)
        self._clock = Clock()
        try:
            self._host.started(self)
        except BaseException as error:
            self._end(error)
            raise

    def _end(self, error: BaseException | None) -> None:
        assert self._clock is not None
        self._measured = self._clock.read()
        try:
            if error is None:
                self._state = StageState.DONE
                self._host.completed(self)
            else:
                self._state = StageState.FAILED
                self._host.failed(self, error)
        finally:
            token, self._token = self._token, None
            if token is not None:
                try:
                    _current_stage.reset(token)
                except ValueError:  # exited in another context than it was entered in
                    _current_stage.set(self._parent)
            self._host.exited(self, self._context)
            self._context = None

    # -- what the block can use ---------------------------------------------------------------

    @property
    def state(self) -> StageState:
        """Where the stage is in its life cycle."""
        return self._state

    @property
    def identity(self) -> StageIdentity:
        """Which execution of :attr:`name` in the run this is (set when the stage is entered).

        Raises:
            RuntimeError: The stage was not entered yet.
        """
        if self._identity is None:
            msg = f"stage {self.name!r} has no identity before it is entered"
            raise RuntimeError(msg)
        return self._identity

    @property
    def restored(self) -> bool:
        """True when this stage came back from a checkpoint: of the resumed run, or of an
        earlier run with the same fingerprint (``cache=True``).

        When True, :attr:`data` holds the verified data and the block may skip its work.
        """
        return self._restored_from is not None

    @property
    def fingerprint(self) -> str | None:
        """The SHA-256 of this execution's code, inputs, ``version`` and environment, set when
        the stage is entered; ``None`` for a stage given none of ``inputs``, ``version``,
        ``cache`` or ``cache_key`` (see docs/caching.md)."""
        return None if self._fingerprint is None else self._fingerprint.sha256

    @property
    def restored_from(self) -> str | None:
        """The id of the checkpoint the stage was restored from, or ``None``."""
        return self._restored_from

    @property
    def reason(self) -> str:
        """Why the stage was restored or runs: ``"new run"`` in a fresh run; in a resumed run
        ``"restored from checkpoint <id>"``, ``"no checkpoint"``,
        ``"checkpoint <id> failed verification: ..."`` or, when its fingerprint no longer
        matches, what changed (``"inputs changed: frame 0 schema"``); with ``cache=True``
        ``"cache hit: ..."`` or ``"cache miss: ..."``; ``"rerun requested (...)"`` for the
        stages ``rerun_from=``/``rerun=`` name."""
        return self._reason

    @property
    def parent(self) -> str | None:
        """The name of the enclosing stage when this one is nested, else ``None``."""
        return None if self._parent is None else self._parent.name

    @property
    def data(self) -> Any:
        """The stage's latest checkpoint data: the restored frame, or the last one passed to
        :meth:`checkpoint` in this block (also when checkpoints are disabled).

        Raises:
            RuntimeError: The stage was not restored and nothing was checkpointed yet.
        """
        if not self._has_data:
            msg = (
                f"stage {self.name!r} has no data: it was not restored ({self._reason}) and "
                "s.checkpoint(df) was not called in this block"
            )
            raise RuntimeError(msg)
        return self._data

    @property
    def rows(self) -> int | None:
        """Rows of :attr:`data`, or ``None`` when there is none."""
        return self._rows

    @property
    def checkpoint_ids(self) -> tuple[str, ...]:
        """Ids of the checkpoints saved in this block, in order (empty when restored)."""
        return tuple(self._checkpoint_ids)

    @property
    def metadata(self) -> dict[str, Any]:
        """A copy of the metadata added with :meth:`add_metadata`."""
        return dict(self._metadata)

    @property
    def duration_seconds(self) -> float | None:
        """Wall time of the block: elapsed so far while running, final once it ended,
        ``None`` before it was entered."""
        if self._measured is not None:
            return self._measured.duration_seconds
        return None if self._clock is None else self._clock.read().duration_seconds

    @property
    def cpu_seconds(self) -> float | None:
        """CPU time of the thread that ran the block (``time.thread_time``), once it ended."""
        return None if self._measured is None else self._measured.cpu_seconds

    @property
    def measured(self) -> Measured | None:
        """What the block cost, once it ended: ``duration_seconds``, ``cpu_seconds`` (this
        thread), ``process_cpu_seconds`` (every thread of the process) and
        ``peak_rss_growth_bytes`` (how much the process's peak RSS rose; 0 when it did not)."""
        return self._measured

    @property
    def spans(self) -> tuple[dict[str, Any], ...]:
        """The spans entered so far, in the order they were entered (see :meth:`span`)."""
        return tuple(dict(span) for span in self._spans)

    def span(self, name: str) -> Span:
        """A named part of this stage, timed: ``with s.span("download"): ...``.

        Spans nest, and are written in the ``spans`` field of ``stage_complete`` (or
        ``stage_error``): ``name``, ``index``, ``parent`` (the enclosing span's index),
        ``start_seconds`` (from the stage's start), ``duration_seconds`` and ``error_type`` when
        the block raised (the exception propagates unchanged). With OpenTelemetry configured,
        each span is also a child span of the stage's.

        Raises:
            checkpointing.InvalidNameError: ``name`` breaks the stage name rules.
            RuntimeError: The stage is not running (raised when the span is entered).
        """
        return Span(self, name)

    def checkpoint(self, data: pd.DataFrame, **metadata: Any) -> str | None:
        """Save ``data`` as a verified checkpoint of this stage and log ``checkpoint_saved``.

        The checkpoint is durable when this returns (see ``CheckpointManager.save_checkpoint``).
        It is recorded in the run record when the stage completes, so a resumed run restores
        only checkpoints of stages that completed. With checkpoints disabled nothing is
        written, a ``checkpoint_skipped`` event is logged and ``None`` is returned; :attr:`data`
        still returns ``data``.

        Args:
            data: The frame (or pyarrow Table) to save.
            **metadata: JSON-serialisable values stored in the checkpoint's manifest.

        Returns:
            The checkpoint id, or ``None`` when checkpoints are disabled.

        Raises:
            RuntimeError: The stage is not running.
            TypeError: ``data`` is not a DataFrame or Table (also with checkpoints disabled).
            checkpointing.CheckpointError: The store failed (for example ``LockTimeoutError``).
        """
        self._require_running("checkpoint")
        _check_checkpointable(data)
        checkpoint_id = self._host.save(self, data, metadata)
        if checkpoint_id is not None:
            self._checkpoint_ids.append(checkpoint_id)
        self._set_data(data)
        return checkpoint_id

    def data_quality(self, **metrics: Any) -> None:
        """Log a ``data_quality_check`` event for this stage with ``metrics`` as metadata.

        Raises:
            RuntimeError: The stage is not running.
        """
        self._require_running("data_quality")
        self._host.data_quality(self, metrics)

    def add_metadata(self, **values: Any) -> None:
        """Add JSON-serialisable values to the metadata of this stage's ``stage_complete``
        (and ``stage_error``) event. Later values replace earlier ones with the same key; the
        keys the stage sets itself (``duration_seconds``, ``rows``, ...) take precedence."""
        self._metadata.update(values)

    # -- used by the pipeline -----------------------------------------------------------------

    def _set_data(self, data: Any) -> None:
        self._data = data
        self._has_data = True
        try:
            self._rows = len(data)
        except TypeError:
            self._rows = None

    def _set_identity(self, identity: StageIdentity) -> None:
        self._identity = identity

    def _set_fingerprint(self, fingerprint: Fingerprint) -> None:
        self._fingerprint = fingerprint

    def _set_restored(self, checkpoint_id: str, data: Any, reason: str) -> None:
        self._restored_from = checkpoint_id
        self._reason = reason
        self._set_data(data)

    def _set_reason(self, reason: str) -> None:
        self._reason = reason

    def _require_running(self, what: str) -> None:
        if self._state is not StageState.RUNNING:
            msg = f"s.{what}() needs a running stage; stage {self.name!r} is {self._state.value}"
            raise RuntimeError(msg)


def _check_checkpointable(data: object) -> None:
    """Refuse, whether checkpoints are enabled or not, what a checkpoint cannot hold."""
    import pandas as pd
    import pyarrow as pa

    if not isinstance(data, pd.DataFrame | pa.Table):
        msg = (
            f"s.checkpoint() takes a pandas DataFrame or a pyarrow Table, not {type(data).__name__}"
        )
        raise TypeError(msg)
