"""Per-stage log files: every record emitted inside a stage also goes to ``<dir>/<stage>.log``.

Enabled by ``Pipeline(..., stage_logs=True)`` (``separate_stage_logs`` in the configuration).
One routing handler per (process, directory) is attached to the root logger under a fixed name
and found again, never duplicated, when attached again. It opens one process-safe rotating file per
stage name on first use (stage names are validated, so they are safe file names) and records
it with :func:`logging_ext.register_stage_log`, so that log retention knows the file is ours;
records without a stage are ignored. At most ``max_open`` stage files are open at once: the
least recently used one is closed to make room, and reopened (appending) when its stage logs
again, so a pipeline of hundreds of stage names never runs out of file descriptors.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from logging_ext import (
    ContextFilter,
    JsonFormatter,
    ProcessSafeRotatingFileHandler,
    register_stage_log,
)

if TYPE_CHECKING:
    import os

__all__: list[str] = []

_attach_lock = threading.Lock()
MAX_OPEN_STAGE_FILES = 32


class StageLogHandler(logging.Handler):
    """Routes each record that carries a ``stage`` to ``<directory>/<stage>.log`` (JSON lines).

    Keeps at most ``max_open`` stage files open, closing the least recently used.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        max_bytes: int,
        backup_count: int,
        max_open: int = MAX_OPEN_STAGE_FILES,
    ) -> None:
        super().__init__()
        self.directory = Path(directory).resolve()
        self.max_bytes = max_bytes
        self.backup_count = backup_count
        self.max_open = max(1, max_open)
        self.addFilter(ContextFilter())
        self.setFormatter(JsonFormatter())
        self._files: OrderedDict[str, ProcessSafeRotatingFileHandler] = OrderedDict()
        self._registered: set[str] = set()
        self._files_lock = threading.Lock()

    def _file_for(self, stage: str) -> ProcessSafeRotatingFileHandler:
        with self._files_lock:
            handler = self._files.get(stage)
            if handler is not None:
                self._files.move_to_end(stage)
                return handler
            handler = ProcessSafeRotatingFileHandler(
                self.directory / f"{stage}.log",
                maxBytes=self.max_bytes,
                backupCount=self.backup_count,
            )
            handler.setFormatter(self.formatter)
            if stage not in self._registered:
                register_stage_log(self.directory, stage)
                self._registered.add(stage)
            self._files[stage] = handler
            while len(self._files) > self.max_open:
                _, oldest = self._files.popitem(last=False)
                oldest.close()
            return handler

    def emit(self, record: logging.LogRecord) -> None:
        """Write ``record`` to its stage's file (records without a stage are ignored)."""
        stage = getattr(record, "stage", None)
        if not isinstance(stage, str) or not stage or "/" in stage or stage.startswith("."):
            return
        try:
            self._file_for(stage).emit(record)
        except Exception:  # logging never takes the pipeline down
            self.handleError(record)

    def close(self) -> None:
        """Close every stage file."""
        with self._files_lock:
            for handler in self._files.values():
                handler.close()
            self._files.clear()
        super().close()


def attach_stage_logs(
    directory: str | os.PathLike[str], *, max_bytes: int = 10 * 1024 * 1024, backup_count: int = 5
) -> StageLogHandler:
    """Attach (or find) the stage log handler for ``directory`` on the root logger."""
    resolved = Path(directory).resolve()
    name = f"checkpointing.stage_logs:{resolved}"
    root = logging.getLogger()
    with _attach_lock:
        for handler in root.handlers:
            if isinstance(handler, StageLogHandler) and handler.get_name() == name:
                return handler
        handler = StageLogHandler(resolved, max_bytes=max_bytes, backup_count=backup_count)
        handler.set_name(name)
        root.addHandler(handler)
        return handler
