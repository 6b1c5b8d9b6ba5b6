"""Rotating file handlers that many processes can share: whole lines, no loss, one rotation.

Each record is encoded to one ``bytes`` object ending in a newline and written with one
``os.write`` on a descriptor opened with ``O_APPEND``: the kernel appends it whole, so writers
in different processes never interleave or tear lines and need no lock to write. A lock file
(``.<name>.lock`` beside the log, through :mod:`filelock`) is taken only to rotate; under it the
handler re-checks that the file at the path is still the one it judged too big (or too old), so
a file is rotated exactly once however many processes notice at the same time, and every
process then reopens the new file.
"""

from __future__ import annotations

import codecs
import contextlib
import logging
import os
import re
import sys
import time
from pathlib import Path
from typing import ClassVar

from filelock import FileLock

from logging_ext._errors import InvalidHandlerArgumentError

__all__ = ["ProcessSafeRotatingFileHandler", "ProcessSafeTimedRotatingFileHandler"]

# Read access too: after each append the handler reads the byte before its line (see emit).
_OPEN_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)


class _ProcessSafeFileHandler(logging.Handler):
    """Shared machinery: O_APPEND descriptor, reopen when the path changes, rotate under a lock."""

    terminator = "\n"

    def __init__(
        self,
        filename: str | os.PathLike[str],
        mode: str = "a",
        encoding: str | None = None,
        delay: bool = False,
        *,
        reopen_check_interval: float = 1.0,
    ) -> None:
        if not mode or mode[0] not in "aw":
            raise InvalidHandlerArgumentError("mode", mode, "only append ('a') or 'w' modes")
        if reopen_check_interval < 0:
            raise InvalidHandlerArgumentError(
                "reopen_check_interval", reopen_check_interval, "must be >= 0"
            )
        super().__init__()
        self.baseFilename = os.path.abspath(os.fspath(filename))  # noqa: PTH100 - stdlib name
        self.mode = mode
        self.encoding = encoding
        self.delay = delay
        self.reopen_check_interval = reopen_check_interval
        self._codec, self._bom = _line_codec(encoding)
        self._newline = self.terminator.encode(self._codec)
        self._truncate_on_open = mode.startswith("w")
        path = Path(self.baseFilename)
        self._lock_path = str(path.with_name(f".{path.name}.lock"))
        self._file_lock = FileLock(self._lock_path)
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None
        self._next_path_check = 0.0
        self._error_reported = False
        if not delay:
            self._open()

    # -- opening -----------------------------------------------------------------------------

    def _open(self) -> int:
        flags = _OPEN_FLAGS
        if self._truncate_on_open:
            flags |= os.O_TRUNC
            self._truncate_on_open = False
        try:
            fd = os.open(self.baseFilename, flags, 0o644)
        except FileNotFoundError:
            Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.baseFilename, flags, 0o644)
        st = os.fstat(fd)
        if self._bom and st.st_size == 0:
            st = self._write_bom(fd)
        self._fd = fd
        self._identity = (st.st_dev, st.st_ino)
        self._opened(st)
        return fd

    def _write_bom(self, fd: int) -> os.stat_result:
        """Start an empty file with the encoding's byte order mark, as the stdlib does.

        Under the rotation lock, and only if the file is still empty: however many processes
        open a new file at once, it gets one mark, at its start, and no line after it does.
        """
        with self._locked():
            st = os.fstat(fd)
            if st.st_size == 0:
                os.write(fd, self._bom)
                st = os.fstat(fd)
        return st

    def _opened(self, st: os.stat_result) -> None:
        """Hook: called after (re)opening the file with its status."""

    def _close_fd(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _reopen(self) -> int:
        self._close_fd()
        return self._open()

    def _path_identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.baseFilename)  # noqa: PTH116 - hot path, no Path object
        except (FileNotFoundError, NotADirectoryError):
            return None
        return (st.st_dev, st.st_ino)

    def _locked(self) -> FileLock:
        Path(self._lock_path).parent.mkdir(parents=True, exist_ok=True)
        return self._file_lock

    # -- writing -----------------------------------------------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        """Append the formatted record as one line; on failure call ``handleError`` once.

        When this returns, the line is in the kernel (visible to every reader, durable across
        a crash of this process; not fsynced).
        """
        try:
            data = (self.format(record) + self.terminator).encode(self._codec, "backslashreplace")
            fd = self._fd
            if fd is None:
                fd = self._open()
            if record.created >= self._next_path_check:
                self._next_path_check = record.created + self.reopen_check_interval
                if self._path_identity() != self._identity:
                    fd = self._reopen()
            fd = self._before_write(fd, len(data), record.created)
            written = os.write(fd, data)
            if written == len(data):
                _unglue(fd, data, self._newline, len(self._bom))
            while written < len(data):
                try:
                    written += os.write(fd, data[written:])
                except OSError:
                    _drop_fragment(fd, written)
                    raise
            if self._error_reported:
                self._error_reported = False
        except RecursionError:
            raise
        except Exception:
            self._close_fd()
            self.handleError(record)

    def _before_write(self, fd: int, size: int, now: float) -> int:
        """Hook: rotate if needed before ``size`` bytes are written at time ``now``."""
        return fd

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - stdlib name
        """Report a failed emit on stderr once, not once per record, until a write succeeds."""
        if self._error_reported:
            return
        self._error_reported = True
        super().handleError(record)

    def close(self) -> None:
        """Close the file descriptor; later records reopen it only if emitted again."""
        self.acquire()
        try:
            self._close_fd()
        finally:
            self.release()
        super().close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.baseFilename} ({logging.getLevelName(self.level)})>"


class ProcessSafeRotatingFileHandler(_ProcessSafeFileHandler):
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
        with self._locked():
            st = _stat_or_none(self.baseFilename)
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
            with self._locked():
                st = _stat_or_none(self.baseFilename)
                if st is not None and st.st_size > len(self._bom) and self.backupCount > 0:
                    self._rotate_files()
                self._reopen()
        finally:
            self.release()


_UNITS: dict[str, tuple[int, str, str]] = {
    "S": (1, "%Y-%m-%d_%H-%M-%S", r"\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}"),
    "M": (60, "%Y-%m-%d_%H-%M", r"\d{4}-\d{2}-\d{2}_\d{2}-\d{2}"),
    "H": (3600, "%Y-%m-%d_%H", r"\d{4}-\d{2}-\d{2}_\d{2}"),
    "D": (86400, "%Y-%m-%d", r"\d{4}-\d{2}-\d{2}"),
    "MIDNIGHT": (86400, "%Y-%m-%d", r"\d{4}-\d{2}-\d{2}"),
}
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday is 0)


class ProcessSafeTimedRotatingFileHandler(_ProcessSafeFileHandler):
    """Drop-in for :class:`logging.handlers.TimedRotatingFileHandler`, safe across processes.

    Records are appended whole with one ``O_APPEND`` write (no loss, no torn or interleaved
    lines across processes). Periods are aligned to the clock (local time unless ``utc``):
    ``when="midnight"`` or ``"D"`` rotates at midnight, ``"H"`` on the hour, ``"M"``/``"S"``
    on multiples of ``interval`` minutes/seconds since the epoch, ``"W0"``-``"W6"`` at midnight
    of that weekday, so every process agrees on the boundaries. At the first record of a new
    period the file is renamed to ``name.<period>`` (``name.2025-10-06`` for daily rotation, the
    stdlib's suffixes) under the lock file ``.<name>.lock``, only if that dated file does not
    exist yet and the file at the path is still the one of the old period: two processes never
    both rotate, and no rotated file is ever overwritten (CPython issue 130108). Every process
    then reopens the new file. ``backupCount`` (when > 0) keeps that many dated files.

    A file left from an earlier run is judged by its modification time, so a file last written
    yesterday is rotated to yesterday's name at the first record today.

    Args:
        filename: Path of the log file; its directory is created when missing.
        when: ``"S"``, ``"M"``, ``"H"``, ``"D"``, ``"midnight"`` or ``"W0"``-``"W6"``.
        interval: Number of ``when`` units per period.
        backupCount: Number of dated files kept (0: all).
        encoding: Text encoding of the lines (default UTF-8).
        delay: Open the file at the first record instead of now.
        utc: Use UTC instead of local time for boundaries and file names.
        reopen_check_interval: Seconds between checks that the path still names the open
            file (0: before every record).

    Raises:
        InvalidHandlerArgumentError: An unknown ``when`` or a non-positive ``interval``.
    """

    _weekday: ClassVar[re.Pattern[str]] = re.compile(r"W([0-6])")

    def __init__(  # noqa: PLR0917 - the stdlib's positional signature
        self,
        filename: str | os.PathLike[str],
        when: str = "midnight",
        interval: int = 1,
        backupCount: int = 0,  # noqa: N803 - the stdlib's argument names
        encoding: str | None = None,
        delay: bool = False,
        utc: bool = False,
        *,
        reopen_check_interval: float = 1.0,
    ) -> None:
        key = when.upper()
        weekday = self._weekday.fullmatch(key)
        if interval < 1:
            raise InvalidHandlerArgumentError("interval", interval, "must be >= 1")
        if backupCount < 0:
            raise InvalidHandlerArgumentError("backupCount", backupCount, "must be >= 0")
        if weekday is not None:
            unit, self.suffix, pattern = 7 * 86400, *_UNITS["D"][1:]
            self._anchor = ((int(weekday.group(1)) - _EPOCH_WEEKDAY) % 7) * 86400
        elif key in _UNITS:
            unit, self.suffix, pattern = _UNITS[key]
            self._anchor = 0
        else:
            raise InvalidHandlerArgumentError(
                "when", when, "expected S, M, H, D, midnight or W0-W6"
            )
        self.when = key
        self.interval = interval
        self.backupCount = backupCount
        self.utc = utc
        self._length = unit * interval
        self.extMatch = re.compile(rf"^{pattern}$")
        self._period_start = 0.0
        self.rolloverAt = 0.0
        super().__init__(
            filename, "a", encoding, delay, reopen_check_interval=reopen_check_interval
        )

    def period_start(self, t: float) -> float:
        """Return the start (epoch seconds) of the rotation period containing time ``t``."""
        offset = 0 if self.utc else time.localtime(t).tm_gmtoff
        local = t + offset
        start = self._anchor + ((local - self._anchor) // self._length) * self._length
        return start - offset

    def rotation_suffix(self, period_start: float) -> str:
        """Return the suffix (``2025-10-06`` for daily periods) of the period starting then."""
        moment = time.gmtime(period_start) if self.utc else time.localtime(period_start)
        return time.strftime(self.suffix, moment)

    def _opened(self, st: os.stat_result) -> None:
        moment = st.st_mtime if st.st_size > len(self._bom) else time.time()
        self._period_start = self.period_start(moment)
        self.rolloverAt = self._period_start + self._length

    def _before_write(self, fd: int, size: int, now: float) -> int:
        if now < self.rolloverAt:
            return fd
        with self._locked():
            st = _stat_or_none(self.baseFilename)
            if (
                st is not None
                and (st.st_dev, st.st_ino) == self._identity
                and st.st_size > len(self._bom)
            ):
                target = f"{self.baseFilename}.{self.rotation_suffix(self._period_start)}"
                if not os.path.lexists(target):
                    Path(self.baseFilename).rename(target)
                    self._delete_old_files()
            return self._reopen()

    def doRollover(self) -> None:  # noqa: N802 - stdlib name
        """Rotate the current file to its period's name now, if that name is still free."""
        self.acquire()
        try:
            fd = self._fd if self._fd is not None else self._open()
            self.rolloverAt = 0.0
            self._before_write(fd, 0, time.time())
        finally:
            self.release()

    def rotated_files(self) -> list[Path]:
        """Return this log's dated files (``name.<suffix>``), oldest first."""
        path = Path(self.baseFilename)
        prefix = path.name + "."
        try:
            names = [p.name for p in path.parent.iterdir()]
        except FileNotFoundError:
            return []
        dated = [n for n in names if n.startswith(prefix) and self.extMatch.match(n[len(prefix) :])]
        return [path.parent / n for n in sorted(dated)]

    def _delete_old_files(self) -> None:
        if self.backupCount <= 0:
            return
        files = self.rotated_files()
        for old in files[: max(0, len(files) - self.backupCount)]:
            old.unlink(missing_ok=True)


def _line_codec(encoding: str | None) -> tuple[str, bytes]:
    """Return the codec that encodes one line with no byte order mark, and the file's mark.

    ``utf-16``/``utf-32`` put a mark in front of every string they encode; the lines are
    encoded in the native byte order (what those codecs use) without it, and the mark is
    written once at the start of the file. ``utf-8-sig`` is UTF-8 with a mark at the start.
    """
    name = codecs.lookup(encoding or "utf-8").name
    order = "le" if sys.byteorder == "little" else "be"
    if name in ("utf-16", "utf-32"):
        line = f"{name}-{order}"
        return line, codecs.encode("", name)  # the mark alone
    if name == "utf-8-sig":
        return "utf-8", codecs.BOM_UTF8
    return name, b""


def _unglue(fd: int, data: bytes, newline: bytes, floor: int) -> None:
    """Append ``data`` again if the line just written was glued to another writer's fragment.

    Linux may cut a write short when the writing process is killed (``SIGKILL`` between two
    pages of the copy), leaving the start of its line without a newline at the end of the file.
    The next line appended by anyone would then be glued to that fragment and be unreadable.
    After its one ``O_APPEND`` write, the handler reads the bytes just before its line: if they
    are not an encoded newline (``newline``), the line is written once more, now on a line of
    its own (the glued copy already ended the fragment's line). The fragment stays as one
    unparseable line (readers skip it); no record of a live process is lost.
    """
    start = os.lseek(fd, 0, os.SEEK_CUR) - len(data)
    if start <= floor:  # nothing before the line but the byte order mark, if any
        return
    size = len(newline)
    if start < size or os.pread(fd, size, start - size) != newline:
        os.write(fd, data)


def _drop_fragment(fd: int, written: int) -> None:
    """Cut the first ``written`` bytes of a line whose rest could not be written (full disk).

    Only if they are still the end of the file, so another process's line is never touched;
    a torn line would otherwise stay in the file and glue itself to the next one.
    """
    with contextlib.suppress(OSError):
        end = os.lseek(fd, 0, os.SEEK_CUR)
        if os.fstat(fd).st_size == end:
            os.ftruncate(fd, end - written)


def _stat_or_none(path: str) -> os.stat_result | None:
    try:
        return Path(path).stat()
    except FileNotFoundError:
        return None
