"""The handlers of one log directory in this process: built once, shared, kept attached.

``PipelineLogger`` objects for the same directory share one set of handlers (``Sinks``): the
events handler on the directory's events logger, the ``pipeline.log`` and ``errors.log``
handlers (and the console) on the root logger or on the events logger.

An application may reconfigure logging while a pipeline runs: ``logging.config.dictConfig``
closes every handler, removes the root logger's handlers and (with its default
``disable_existing_loggers=True``) disables every existing logger, ours included;
``basicConfig(force=True)`` closes and removes the root logger's handlers. None of that may
silently stop the pipeline's logs, so the handlers are kept attached:

- every event first checks that its sinks are intact (events logger enabled, every handler
  attached where it belongs) and repairs them if not: re-enables the logger, re-attaches the
  very same named handlers (never a second copy), which reopen their files at the next record;
- a handler of ours closed by someone else marks its sinks broken, and the next record of
  any logger emitted inside the context of a pipeline that these sinks serve (one that logged
  an event and has not logged ``pipeline_complete``) repairs them before it is handled, through
  a thin wrapper around the log record factory; so a user's record right after the
  reconfiguration still reaches ``pipeline.log`` and ``errors.log``.

The root level is left as the application set it.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import sys
import threading
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from logging_ext._context import ContextFilter, context_has_pipeline, current_context
from logging_ext._eventline import events_line, records_line
from logging_ext._formatter import JsonFormatter
from logging_ext._handlers import ProcessSafeRotatingFileHandler
from logging_ext._query import EVENTS_FILE, EVENTS_SUBDIR
from logging_ext._timed import ProcessSafeTimedRotatingFileHandler

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__: list[str] = []

EVENT_FIELDS = ("event_type", "pipeline_id", "stage", "status", "metadata")
RECORD_FIELDS = ("levelname", "name", "message", "pipeline_id", "stage", "process", "threadName")
EVENTS_LOGGER = "logging_ext.events"
_CONSOLE_FORMAT = "%(asctime)s %(levelname)-7s %(pipeline_id)s/%(stage)s %(name)s: %(message)s"
_ACTIVE_PIPELINES = 256  # pipelines remembered per directory for repairs by record


class ScopeFilter(logging.Filter):
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


class _EventsFormatter(JsonFormatter):
    """The formatter of events.log: an event's line is built directly (see ``_eventline``)."""

    def format(self, record: logging.LogRecord) -> str:
        """Return ``record``'s line."""
        line = events_line(record)
        return super().format(record) if line is None else line


class _SharedFormatter(JsonFormatter):
    """The formatter of pipeline.log and errors.log: one record is formatted once for both.

    An ERROR record goes to both files with the same layout: the second handler reuses the
    line of the first (same record object, no attribute added since) instead of formatting it
    again. An event below ERROR is built directly, from the parts its events.log line encoded.
    """

    def __init__(self, fmt: list[str]) -> None:
        super().__init__(fmt)
        self._last: tuple[weakref.ref[logging.LogRecord], int, str] | None = None

    def format(self, record: logging.LogRecord) -> str:
        """Return ``record``'s line, formatted once however many handlers ask."""
        if record.levelno < logging.ERROR:  # written to pipeline.log only
            line = records_line(record)
            return super().format(record) if line is None else line
        last = self._last
        if last is not None and last[0]() is record and last[1] == len(record.__dict__):
            return last[2]
        line = super().format(record)
        self._last = (weakref.ref(record), len(record.__dict__), line)
        return line


class _Watched(logging.Handler):
    """A handler of a ``Sinks``: closed by anyone but its owner, it marks the sinks broken."""

    sinks: Sinks | None = None
    released = False

    def close(self) -> None:
        super().close()
        if not self.released and self.sinks is not None:
            _mark_broken(self.sinks)


class _EventsFile(_Watched, ProcessSafeTimedRotatingFileHandler):
    """``events/events.log``."""


class _RecordsFile(_Watched, ProcessSafeRotatingFileHandler):
    """``pipeline.log`` and ``errors/errors.log``."""


class _Console(_Watched, logging.StreamHandler[TextIO]):
    """The human-readable stderr lines of ``console=True``."""


@dataclass(eq=False)
class Sinks:
    """The handlers of one log directory in this process, shared by its PipelineLoggers."""

    directory: Path
    events_logger: logging.Logger
    events_handler: logging.Handler
    # pipeline.log and errors.log (and the console), on the root logger or the events logger
    shared: list[logging.Handler]
    level: int
    on_root: bool = False
    users: int = 0
    root_level: tuple[int, int] | None = None  # (level before, level we set)
    console: logging.Handler | None = None
    broken: bool = False
    active: dict[str, None] = field(default_factory=dict)  # pipelines running, oldest first

    @property
    def shared_host(self) -> logging.Logger:
        return logging.getLogger() if self.on_root else self.events_logger

    def intact(self) -> bool:
        """Whether every handler is attached where it belongs and the logger is enabled."""
        logger = self.events_logger
        if self.broken or logger.disabled or self.events_handler not in logger.handlers:
            return False
        host = (_ROOT if self.on_root else logger).handlers
        for handler in self.shared:  # noqa: SIM110 - a loop: this runs for every event
            if handler not in host:
                return False
        return True

    def note_event(self, event_type: str, pipeline_id: str) -> None:
        """Remember which pipelines are running, for repairs triggered by their records."""
        active = self.active
        if event_type == "pipeline_complete":
            active.pop(pipeline_id, None)
        elif pipeline_id not in active:
            active[pipeline_id] = None
            if len(active) > _ACTIVE_PIPELINES:
                del active[next(iter(active))]


_ROOT = logging.getLogger()
_SINKS: dict[str, Sinks] = {}
_BROKEN: set[Sinks] = set()
_LOCK = threading.RLock()
_hook: dict[str, Any] = {"factory": None, "wrapper": None, "stopped": False}


def handler_name(kind: str, directory: Path) -> str:
    """The name of the ``kind`` handler of ``directory`` (``logging_ext.pipeline:/abs/logs``)."""
    return f"logging_ext.{kind}:{directory}"


def acquire(
    directory: Path,
    *,
    level: int,
    max_bytes: int,
    backup_count: int,
    console: bool,
    configure_root: bool,
) -> Sinks:
    """Return the sinks of ``directory`` (built, or repaired, as needed) with one more user."""
    with _LOCK:
        _install_hook()
        sinks = _SINKS.get(str(directory))
        if sinks is None:
            sinks = _build(directory, level=level, max_bytes=max_bytes, backup_count=backup_count)
            _SINKS[str(directory)] = sinks
        elif not sinks.intact():
            repair(sinks)
        if configure_root and not sinks.on_root:
            _attach_root(sinks, level)
        if console and sinks.console is None:
            _attach_console(sinks)
        sinks.users += 1
        return sinks


def release(sinks: Sinks) -> None:
    """Drop one user; the last one detaches and closes the handlers, restores the root level."""
    with _LOCK:
        sinks.users -= 1
        if sinks.users > 0:
            return
        if _SINKS.get(str(sinks.directory)) is sinks:
            del _SINKS[str(sinks.directory)]
        _BROKEN.discard(sinks)
        root = logging.getLogger()
        for handler in [sinks.events_handler, *sinks.shared]:
            if isinstance(handler, _Watched):
                handler.released = True
            sinks.events_logger.removeHandler(handler)
            root.removeHandler(handler)
            handler.close()
        if sinks.root_level is not None and root.level == sinks.root_level[1]:
            root.setLevel(sinks.root_level[0])


def repair(sinks: Sinks, *, wait: bool = True) -> None:
    """Re-enable the events logger and re-attach the sinks' own handlers where missing.

    With ``wait=False`` (from inside logging, possibly under its module lock), a repair that
    would have to wait for another thread is skipped: the next event repairs.
    """
    if not _LOCK.acquire(blocking=wait):
        return
    try:
        _repair(sinks)
    finally:
        _LOCK.release()


def _repair(sinks: Sinks) -> None:
    # Called with _LOCK held.
    _BROKEN.discard(sinks)
    sinks.broken = False
    if sinks.users <= 0:  # released: nothing to keep attached
        return
    logger = sinks.events_logger
    logger.disabled = False
    if logger.level == logging.NOTSET:  # reset by a configuration of a parent logger
        logger.setLevel(sinks.level)
    _attach(logger, sinks.events_handler)
    host = sinks.shared_host
    for handler in sinks.shared:
        _attach(host, handler)


def _attach(logger: logging.Logger, handler: logging.Handler) -> None:
    if handler in logger.handlers:
        return
    for other in [h for h in logger.handlers if h.get_name() == handler.get_name()]:
        logger.removeHandler(other)
    logger.addHandler(handler)


def _mark_broken(sinks: Sinks) -> None:
    # Called from Handler.close(), possibly under logging's module lock: take no lock here.
    sinks.broken = True
    _BROKEN.add(sinks)


def record_factory() -> Callable[..., logging.LogRecord]:
    """The log record factory, without the repair hook wrapped around it (for events)."""
    factory = logging.getLogRecordFactory()
    base = _hook["factory"]
    return base if factory is _hook["wrapper"] and base is not None else factory


def _install_hook() -> None:
    """Wrap the log record factory once, so that records can trigger repairs (see above)."""
    if _hook["factory"] is not None:
        return
    base = logging.getLogRecordFactory()
    _hook["factory"] = base

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        if _BROKEN and not _hook["stopped"]:
            _repair_for_context()
        return base(*args, **kwargs)

    _hook["wrapper"] = factory
    logging.setLogRecordFactory(factory)
    # Runs before logging's own shutdown (registered earlier), which closes every handler.
    atexit.register(_hook.__setitem__, "stopped", True)


def _repair_for_context() -> None:
    pipeline_id = current_context().get("pipeline_id")
    if pipeline_id is None:
        return
    for sinks in list(_BROKEN):
        if pipeline_id in sinks.active:
            repair(sinks, wait=False)


def _build(directory: Path, *, level: int, max_bytes: int, backup_count: int) -> Sinks:
    digest = hashlib.sha1(str(directory).encode(), usedforsecurity=False).hexdigest()[:12]
    events_logger = logging.getLogger(f"{EVENTS_LOGGER}.{digest}")
    context = ContextFilter()
    scope = ScopeFilter(events_logger.name)
    events = _EventsFile(directory / EVENTS_SUBDIR / EVENTS_FILE, when="midnight", delay=True)
    events.setFormatter(_EventsFormatter(list(EVENT_FIELDS), exc_fields=False))
    events.set_name(handler_name("events", directory))
    events.addFilter(context)
    records: list[_Watched] = []
    formatter = _SharedFormatter(list(RECORD_FIELDS))
    for kind, path in (("pipeline", directory / "pipeline.log"),
                       ("errors", directory / "errors" / "errors.log")):  # fmt: skip
        file = _RecordsFile(path, maxBytes=max_bytes, backupCount=backup_count, delay=True)
        file.setFormatter(formatter)
        file.set_name(handler_name(kind, directory))
        file.addFilter(scope)
        file.addFilter(context)
        records.append(file)
    records[1].setLevel(logging.ERROR)
    root = logging.getLogger()
    for handler in (events, *records):
        for host in (events_logger, root):
            for stale in [h for h in host.handlers if h.get_name() == handler.get_name()]:
                host.removeHandler(stale)
                stale.close()
        events_logger.addHandler(handler)
    events_logger.setLevel(level)
    sinks = Sinks(directory, events_logger, events, list(records), level)
    for handler in (events, *records):
        handler.sinks = sinks
    return sinks


def _attach_root(sinks: Sinks, level: int) -> None:
    """Move pipeline.log/errors.log (and console) handlers to the root logger.

    Events still reach them, by propagation from the events logger; each record reaches
    each handler once.
    """
    root = logging.getLogger()
    for handler in sinks.shared:
        sinks.events_logger.removeHandler(handler)
        _attach(root, handler)
    sinks.on_root = True
    if root.level > level or root.level == logging.NOTSET:
        sinks.root_level = (root.level, level)
        root.setLevel(level)


def _attach_console(sinks: Sinks) -> None:
    console = _Console(sys.stderr)
    console.set_name(handler_name("console", sinks.directory))
    console.setFormatter(
        logging.Formatter(_CONSOLE_FORMAT, defaults={"pipeline_id": "-", "stage": "-"})
    )
    console.addFilter(ScopeFilter(sinks.events_logger.name))
    console.addFilter(ContextFilter())
    console.sinks = sinks
    _attach(sinks.shared_host, console)
    sinks.shared.append(console)
    sinks.console = console
