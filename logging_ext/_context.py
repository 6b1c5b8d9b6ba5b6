"""The pipeline context: ``pipeline_id``, ``stage`` and extra fields stamped on log records."""

from __future__ import annotations

import contextvars
import logging
from contextlib import contextmanager
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["ContextFilter", "current_context", "log_context"]

_EMPTY: MappingProxyType[str, Any] = MappingProxyType({})
_CONTEXT: contextvars.ContextVar[MappingProxyType[str, Any]] = contextvars.ContextVar(
    "logging_ext_context", default=_EMPTY
)


@contextmanager
def log_context(
    pipeline_id: str | None = None, stage: str | None = None, **fields: Any
) -> Iterator[dict[str, Any]]:
    """Stamp every log record emitted inside the block with ``pipeline_id``, ``stage`` and fields.

    Contexts nest: the inner block sees the outer fields plus its own (an inner value wins,
    ``None`` arguments keep the outer value), and leaving it restores the outer context exactly,
    even on an exception. The context lives in a :mod:`contextvars` variable, so it follows
    asyncio tasks and threads started through ``contextvars.copy_context().run``; other threads
    do not see it. Records are stamped by :class:`ContextFilter` on the handlers that carry it.

    Args:
        pipeline_id: The pipeline run the records belong to.
        stage: The stage being executed.
        **fields: Further fields to stamp (for example ``run_id=...``).

    Yields:
        A copy of the context now in force.
    """
    new = dict(_CONTEXT.get())
    if pipeline_id is not None:
        new["pipeline_id"] = pipeline_id
    if stage is not None:
        new["stage"] = stage
    new.update(fields)
    token = _CONTEXT.set(MappingProxyType(new))
    try:
        yield dict(new)
    finally:
        _CONTEXT.reset(token)


def current_context() -> dict[str, Any]:
    """Return a copy of the fields of the innermost :func:`log_context` (``{}`` outside any)."""
    return dict(_CONTEXT.get())


def context_has_pipeline() -> bool:
    """Return whether a ``pipeline_id`` is in force in the current context (internal helper)."""
    return "pipeline_id" in _CONTEXT.get()


class ContextFilter(logging.Filter):
    """A filter that stamps the current :func:`log_context` fields on each record.

    A field the record already carries (for example from the caller's ``extra=``) is never
    overwritten. The filter never rejects a record (it always returns ``True``), so it can be
    added to any handler or logger, including from ``dictConfig``
    (``{"()": "logging_ext.ContextFilter"}``). Thread-safe; costs one context-variable read
    when no context is active.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the context fields missing from ``record``; return ``True``."""
        context = _CONTEXT.get()
        if context:
            attributes = record.__dict__
            for key, value in context.items():
                if key not in attributes:
                    attributes[key] = value
        return True
