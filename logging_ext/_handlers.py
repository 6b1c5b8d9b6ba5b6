"""``ProcessSafeRotatingFileHandler``: size rotation that many processes can share."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from logging_ext._errors import InvalidHandlerArgumentError
from logging_ext._filebase import ProcessSafeFileHandler, stat_or_none

__all__ = ["ProcessSafeRotatingFileHandler"]


class ProcessSafeRotatingFileHandler(ProcessSafeFileHandler):
    """Drop-in for :class:`logging.handlers.RotatingFileHandler`, safe across processes.

    Any number of processes (and threads) may log to one file: each record is appended whole
    with one ``O_APPEND`` write, so no line is lost, duplicated, torn or interleaved. When a
    record would take the file past ``maxBytes``, the file is rotated (``name`` -> ``name.1`` ->
    ... -> ``name.<backupCount>``, the oldest dropped) under a lock file ``.<name>.lock``, by
    exactly one process; the others notice (the file they hold is too big and no longer at the
    path) and reopen. A file renamed or deleted by someone else (or a deleted directory) is
    reopened/recreated within ``reopen_check_interval`` seconds. Like the stdlib, nothing
    rotates when ``maxBytes`` or ``backupCount`` is 0.

    A record is in the kernel when ``emit`` returns (no buffering; no fsync). Write errors (full
    disk, unwritable path) go through ``handleError``: reported once on stderr, never raised.

    Args:
        filename: Path of the log file; its directory is created when missing.
        mode: ``"a"`` (``"w"`` truncates at the first open, only without rotation).
        maxBytes: Rotate before a record would take the file past this size (0: never).
        backupCount: Number of rotated files kept.
        encoding: Text encoding of the lines (default UTF-8).
        delay: Open the file at the first record instead of now.
        reopen_check_interval: Seconds between checks that the path still names the open
            file (0: before every record).

    Raises:
        InvalidHandlerArgumentError: A negative size or count, or an unsupported mode.
    """

    def __init__(  # noqa: PLR0917 - the stdlib's positional signature
        self,
        filename: str | os.PathLike[str],
        mode: str = "a",
        maxBytes: int = 0,  # noqa: N803 - the stdlib's argument names
        backupCount: int = 0,  # noqa: N803
        encoding: str | None = None,
        delay: bool = False,
        *,
        reopen_check_interval: float = 1.0,
    ) -> None:
        if maxBytes < 0:
            raise InvalidHandlerArgumentError("maxBytes", maxBytes, "must be >= 0")
        if backupCount < 0:
            raise InvalidHandlerArgumentError("backupCount", backupCount, "must be >= 0")
        if maxBytes > 0:
            mode = "a"
        self.maxBytes = maxBytes
        self.backupCount = backupCount
        super().__init__(
            filename, mode, encoding, delay, reopen_check_interval=reopen_check_interval
        )

    def _before_write(self, fd: int, size: int, now: float) -> int:
        if self.maxBytes <= 0 or self.backupCount <= 0:
            return fd
        current = os.lseek(fd, 0, os.SEEK_END)
        if current <= len(self._bom) or current + size <= self.maxBytes:
            return fd
        with self._lock_file.exclusive():
            st = stat_or_none(self.baseFilename)
            if (
                st is not None
                and (st.st_dev, st.st_ino) == self._identity
                and st.st_size > len(self._bom)
                and st.st_size + size > self.maxBytes
            ):
                self._rotate_files()
            return self._reopen()

    def _rotate_files(self) -> None:
        """Shift ``name.i`` to ``name.i+1`` (only the files that exist), drop the oldest."""
        path = Path(self.baseFilename)
        prefix = path.name + "."
        indexes = sorted(
            (
                int(n[len(prefix) :])
                for n in (p.name for p in path.parent.iterdir())
                if n.startswith(prefix) and n[len(prefix) :].isdigit()
            ),
            reverse=True,
        )
        for i in indexes:
            source = path.with_name(f"{prefix}{i}")
            with contextlib.suppress(FileNotFoundError):
                if i >= self.backupCount:
                    source.unlink()
                else:
                    source.replace(path.with_name(f"{prefix}{i + 1}"))
        path.replace(path.with_name(f"{prefix}1"))

    def doRollover(self) -> None:  # noqa: N802 - stdlib name
        """Rotate now (if the file is not empty), as the stdlib method of this name does."""
        self.acquire()
        try:
            with self._lock_file.exclusive():
                st = stat_or_none(self.baseFilename)
                if st is not None and st.st_size > len(self._bom) and self.backupCount > 0:
                    self._rotate_files()
                self._reopen()
        finally:
            self.release()
