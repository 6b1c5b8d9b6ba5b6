"""``ProcessSafeRotatingFileHandler``: size rotation that many processes can share."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from logging_ext._errors import InvalidHandlerArgumentError
from logging_ext._filebase import ProcessSafeFileHandler, stat_or_none

if TYPE_CHECKING:
    import logging

__all__ = ["ProcessSafeRotatingFileHandler"]

_NUMBER = re.compile(r"(?<!\d)\d+(?!\d)", re.ASCII)


class ProcessSafeRotatingFileHandler(ProcessSafeFileHandler):
    """Drop-in for :class:`logging.handlers.RotatingFileHandler`, safe across processes.

    Any number of processes (and threads) may log to one file: each record is appended whole
    with one ``O_APPEND`` write, so no line is lost, duplicated, torn or interleaved. When a
    record would bring the file to ``maxBytes`` or past it, the file is rotated (``name`` ->
    ``name.1`` -> ... -> ``name.<backupCount>``, the oldest dropped; each name passed through
    ``namer`` when one is set, the file moved by ``rotator`` when one is set) under a lock file
    ``.<name>.lock``, by exactly one process; the others notice (the file they hold is too big
    and no longer at the path) and reopen. A file renamed or deleted by someone else (or a
    deleted directory) is reopened/recreated within ``reopen_check_interval`` seconds. Like
    the stdlib, nothing rotates when ``maxBytes`` or ``backupCount`` is 0, an empty file is
    never rotated, and neither is anything but a regular file (``/dev/null``, a pipe).

    A record is in the kernel when ``emit`` returns (no buffering; no fsync). Write errors (full
    disk, unwritable path) go through ``handleError``: reported once on stderr, never raised.

    Args:
        filename: Path of the log file; its directory is created when missing.
        mode: ``"a"`` (``"w"`` truncates at the first open, only without rotation).
        maxBytes: Rotate before a record would bring the file to this size (0: never).
        backupCount: Number of rotated files kept.
        encoding: Text encoding of the lines (default UTF-8).
        delay: Open the file at the first record instead of now.
        errors: How encoding errors are handled (default ``"backslashreplace"``: never lose
            a record to an unencodable character).
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
        errors: str | None = None,
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
            filename, mode, encoding, delay, errors, reopen_check_interval=reopen_check_interval
        )

    def shouldRollover(self, record: logging.LogRecord) -> bool:  # noqa: N802 - stdlib name
        """Return whether writing ``record`` now would bring the file to ``maxBytes``.

        As the stdlib: never for ``maxBytes`` 0, an empty file or a file that is not regular;
        the size is the file's on disk, which other processes may be growing too. Opens the
        file if it is not open yet.
        """
        fd = self._fd if self._fd is not None else self._open()
        if self.maxBytes <= 0 or not self._regular:
            return False
        current = os.lseek(fd, 0, os.SEEK_END)
        if current <= len(self._bom):
            return False
        return current + len(self._encode(record)) >= self.maxBytes

    def _before_write(self, fd: int, size: int, now: float) -> int:
        if self.maxBytes <= 0 or self.backupCount <= 0:
            return fd
        current = os.lseek(fd, 0, os.SEEK_END)
        if current <= len(self._bom) or current + size < self.maxBytes:
            return fd
        with self._lock_file.exclusive():
            st = stat_or_none(self.baseFilename)
            if (
                st is not None
                and (st.st_dev, st.st_ino) == self._identity
                and st.st_size > len(self._bom)
                and st.st_size + size >= self.maxBytes
            ):
                self._rotate_files()
            return self._reopen()

    def _backups(self) -> dict[int, Path]:
        """The rotated files that exist now, by index (``name.<i>``, through ``namer``)."""
        path = Path(self.baseFilename)
        namer = self.namer
        found: dict[int, Path] = {}
        for entry in path.parent.iterdir():
            name = entry.name
            if not callable(namer):
                suffix = name[len(path.name) + 1 :]
                if name.startswith(path.name + ".") and suffix.isdigit() and suffix.isascii():
                    found[int(suffix)] = entry
                continue
            for match in _NUMBER.finditer(name):
                if Path(self.rotation_filename(f"{path}.{match.group(0)}")) == entry:
                    found[int(match.group(0))] = entry
                    break
        return found

    def _rotate_files(self) -> None:
        """Shift ``name.i`` to ``name.i+1`` (the files that exist), drop the oldest, rotate."""
        base = self.baseFilename
        for i, source in sorted(self._backups().items(), reverse=True):
            with contextlib.suppress(FileNotFoundError):
                if i >= self.backupCount:
                    source.unlink()
                else:
                    source.replace(self.rotation_filename(f"{base}.{i + 1}"))
        first = Path(self.rotation_filename(f"{base}.1"))
        first.unlink(missing_ok=True)
        self.rotate(base, str(first))

    def doRollover(self) -> None:  # noqa: N802 - stdlib name
        """Rotate now, as the stdlib method of this name does (nothing if ``backupCount`` is 0).

        The file is reopened at once unless ``delay`` is set (then at the next record).
        """
        self.acquire()
        try:
            with self._lock_file.exclusive():
                if self.backupCount > 0:
                    self._rotate_files()
                self._close_fd()
                if not self.delay:
                    self._open()
        finally:
            self.release()
