"""Log records of fan-out items: captured in a worker process, replayed in the driver's logs.

An item's function may run in another process (a Dask worker, a process pool) that has no
handler writing the pipeline's logs. There, while the item runs, a router handler on the root
logger keeps every record emitted in the item's own context (its thread, or asyncio task) as a
plain dict, stamped with the item's ``log_context`` (``pipeline_id``, ``stage``, ``key``). The
dicts travel back in the task's result and the driver hands them to its own loggers, so the
item's records land in the run's ``pipeline.log`` (and ``errors.log``) with the worker's
process id and time. A worker process that already has handlers of ``logging_ext`` (a forked
child of the driver, or a worker configured with ``ContextFilter``) writes its records itself
and forwards none, so no record is written twice.

The router changes nothing else a worker logs: records of other threads pass on as before,
including to ``logging.lastResort`` when no other handler would have taken them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from logging_ext import ContextFilter, current_context, to_jsonable

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__: list[str] = []

MAX_RECORDS = 10_000
"""Records kept per item; further ones are counted and reported by one warning record."""

_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_FORMATTER = logging.Formatter()
_capture: ContextVar[_Buffer | None] = ContextVar("checkpointing_map_capture", default=None)


class _Buffer:
    """The records of one item, as dicts that pickle and serialise to strict JSON."""

    def __init__(self, level: int) -> None:
        self.level = level
        self.records: list[dict[str, Any]] = []
        self.dropped = 0

    def add(self, record: logging.LogRecord) -> None:
        if record.levelno < self.level:
            return
        if len(self.records) >= MAX_RECORDS:
            self.dropped += 1
            return
        self.records.append(_snapshot(record, current_context()))

    def result(self) -> list[dict[str, Any]]:
        if self.dropped:
            note = logging.makeLogRecord(
                {
                    "name": "checkpointing.pipeline",
                    "levelno": logging.WARNING,
                    "levelname": "WARNING",
                    "msg": f"{self.dropped} more records of this item were not forwarded "
                    f"(at most {MAX_RECORDS} are)",
                }
            )
            self.records.append(_snapshot(note, current_context()))
        return self.records


def _snapshot(record: logging.LogRecord, context: dict[str, Any]) -> dict[str, Any]:
    """``record`` as a dict: message formatted, exception as text, extras JSON-safe."""
    data: dict[str, Any] = {}
    for name, value in record.__dict__.items():
        data[name] = value if name in _STANDARD else to_jsonable(value)
    try:
        data["msg"] = record.getMessage()
    except Exception:  # bad arguments: keep what can be kept, as logging itself would
        data["msg"] = str(record.msg)
    data["args"] = None
    data.pop("message", None)
    if record.exc_info and record.exc_info[1] is not None:
        error = record.exc_info[1]
        data["exc_text"] = record.exc_text or _FORMATTER.formatException(record.exc_info)
        kind = type(error)
        qualified = kind.__qualname__
        if kind.__module__ not in ("builtins", "__main__"):
            qualified = f"{kind.__module__}.{qualified}"
        data.setdefault("exc_type", qualified)
        data.setdefault("exc_message", _message(error))
    data["exc_info"] = None
    for name, value in context.items():
        data.setdefault(name, to_jsonable(value))
    return data


def _message(error: BaseException) -> str:
    try:
        return str(error)
    except Exception:
        return f"<{type(error).__name__}: message unavailable>"


class _Router(logging.Handler):
    """Sends records emitted in an item's context to that item's buffer."""

    def handle(self, record: logging.LogRecord) -> bool:
        buffer = _capture.get()
        if buffer is None:
            _last_resort(record, self)
            return False
        buffer.add(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:  # never called: handle() is overridden
        self.handle(record)


def _last_resort(record: logging.LogRecord, router: logging.Handler) -> None:
    """Do what the stdlib does for a record no handler takes, as if the router were absent."""
    fallback = logging.lastResort
    if fallback is None or record.levelno < fallback.level:
        return
    logger: logging.Logger | None = logging.getLogger(record.name)
    while logger is not None:
        if any(handler is not router for handler in logger.handlers):
            return
        logger = logger.parent
    fallback.handle(record)


class _Installed:
    """The router on the root logger, installed while any item of this process captures."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0
        self.router = _Router()
        self.root_level: tuple[int, int] | None = None  # (level before, level set)

    def acquire(self, level: int) -> None:
        with self.lock:
            root = logging.getLogger()
            if self.users == 0:
                root.addHandler(self.router)
            if root.level > level:  # records below the root's level never reach a handler
                before = root.level if self.root_level is None else self.root_level[0]
                self.root_level = (before, level)
                root.setLevel(level)
            self.users += 1

    def release(self) -> None:
        with self.lock:
            self.users -= 1
            if self.users:
                return
            root = logging.getLogger()
            root.removeHandler(self.router)
            if self.root_level is not None and root.level == self.root_level[1]:
                root.setLevel(self.root_level[0])
            self.root_level = None


_INSTALLED = _Installed()


def forwarding_needed(driver_pid: int) -> bool:
    """Whether records of an item running here must travel to the driver to be logged."""
    if os.getpid() == driver_pid:
        return False
    handlers = logging.getLogger().handlers
    return not any(isinstance(f, ContextFilter) for h in handlers for f in h.filters)


@contextlib.contextmanager
def capture(level: int) -> Iterator[_Buffer]:
    """Collect the records at ``level`` or above emitted in this context during the block."""
    buffer = _Buffer(level)
    _INSTALLED.acquire(level)
    token = _capture.set(buffer)
    try:
        yield buffer
    finally:
        _capture.reset(token)
        _INSTALLED.release()


def replay(records: list[dict[str, Any]]) -> None:
    """Hand records captured on a worker to this process's loggers (levels respected)."""
    for data in records:
        record = logging.makeLogRecord(data)
        logger = logging.getLogger(record.name)
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)
