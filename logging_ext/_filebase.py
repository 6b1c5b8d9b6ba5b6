"""The machinery shared by the process-safe handlers: whole lines, no loss, one rotation.

Each record is encoded to one ``bytes`` object ending in a newline and written with one
``os.write`` on a descriptor opened with ``O_APPEND``: the kernel appends it whole, so writers
in different processes never interleave or tear lines and need no lock to write. A lock file
(``.<name>.lock`` beside the log, a blocking ``flock``) is taken only to rotate; under it the
handler re-checks that the file at the path is still the one it judged too big (or too old), so
a file is rotated exactly once however many processes notice at the same time, and every
process then reopens the new file.

With a custom ``rotator`` (the stdlib hook that, say, compresses the file it rotates), a
rotated file no longer keeps receiving the lines of processes that have not yet noticed the
rotation: the rotator may have read and deleted it. Each write then holds the lock file
*shared* and checks that its file is still the one at the path; the rotation holds it
exclusively, so the rotator runs on a file nobody is writing to.
"""

from __future__ import annotations

import codecs
import contextlib
import logging
import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from logging_ext._errors import InvalidHandlerArgumentError
from logging_ext._flock import LockFile

if TYPE_CHECKING:
    from collections.abc import Callable

__all__: list[str] = []

# Read access too: after each append the handler reads the byte before its line (see emit).
_OPEN_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)


class ProcessSafeFileHandler(logging.Handler):
    """Shared machinery: O_APPEND descriptor, reopen when the path changes, rotate under a lock.

    Like the stdlib's ``BaseRotatingHandler``: ``namer`` (a callable turning the default
    name of a rotated file into the name to use) and ``rotator`` (a callable moving the
    source file to that name, by default a rename) can be set on the class or the instance,
    and :meth:`rotation_filename` and :meth:`rotate` apply them.
    """

    terminator = "\n"
    namer: Callable[[str], str] | None = None
    rotator: Callable[[str, str], Any] | None = None

    def __init__(
        self,
        filename: str | os.PathLike[str],
        mode: str = "a",
        encoding: str | None = None,
        delay: bool = False,
        errors: str | None = None,
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
        self.errors = errors
        self.delay = delay
        self.reopen_check_interval = reopen_check_interval
        self._codec, self._bom = _line_codec(encoding)
        self._errors = errors or "backslashreplace"
        self._newline = self.terminator.encode(self._codec)
        self._truncate_on_open = mode.startswith("w")
        path = Path(self.baseFilename)
        self._lock_file = LockFile(str(path.with_name(f".{path.name}.lock")))
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None
        self._regular = True
        self._end = -1  # where this handler's last line ended in the open file (-1: unknown)
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
        self._regular = stat.S_ISREG(st.st_mode)
        if self._bom and st.st_size == 0 and self._regular:
            st = self._write_bom(fd)
        self._fd = fd
        self._identity = (st.st_dev, st.st_ino)
        self._end = -1
        self._opened(st)
        return fd

    def _write_bom(self, fd: int) -> os.stat_result:
        """Start an empty file with the encoding's byte order mark, as the stdlib does.

        Under the rotation lock, and only if the file is still empty: however many processes
        open a new file at once, it gets one mark, at its start, and no line after it does.
        """
        with self._lock_file.exclusive():
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

    # -- rotation hooks (the stdlib's BaseRotatingHandler API) -------------------------------

    def rotation_filename(self, default_name: str) -> str:
        """Return the name of a rotated file: ``namer(default_name)`` if a namer is set."""
        namer = self.namer
        return namer(default_name) if callable(namer) else default_name

    def rotate(self, source: str, dest: str) -> None:
        """Move ``source`` to ``dest``: ``rotator(source, dest)`` if set, else a rename.

        Called under the exclusive lock, with no process writing to ``source``.
        """
        rotator = self.rotator
        if callable(rotator):
            rotator(source, dest)
        elif Path(source).exists():
            Path(source).replace(dest)

    def _encode(self, record: logging.LogRecord) -> bytes:
        return (self.format(record) + self.terminator).encode(self._codec, self._errors)

    # -- writing -----------------------------------------------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        """Append the formatted record as one line; on failure call ``handleError`` once.

        When this returns, the line is in the kernel (visible to every reader, durable across
        a crash of this process; not fsynced).
        """
        try:
            data = (self.format(record) + self.terminator).encode(self._codec, self._errors)
            fd = self._fd
            if fd is None:
                fd = self._open()
            if record.created >= self._next_path_check:
                self._next_path_check = record.created + self.reopen_check_interval
                if self._path_identity() != self._identity:
                    fd = self._reopen()
            if not self._regular:  # a device or a pipe: nothing to rotate or read back
                _write_all(fd, data)
            elif self.rotator is not None and callable(self.rotator):
                self._write_guarded(data, record.created)
            else:
                fd = self._before_write(fd, len(data), record.created)
                written = os.write(fd, data)
                if written == len(data):
                    self._end = _unglue(fd, data, self._newline, len(self._bom), self._end)
                else:
                    self._finish(fd, data, written)
            if self._error_reported:
                self._error_reported = False
        except RecursionError:
            raise
        except Exception:
            self._close_fd()
            self.handleError(record)

    def _write(self, fd: int, data: bytes) -> None:
        written = os.write(fd, data)
        if written == len(data):
            self._end = _unglue(fd, data, self._newline, len(self._bom), self._end)
        else:
            self._finish(fd, data, written)

    def _finish(self, fd: int, data: bytes, written: int) -> None:
        """Write the rest of a line cut short (a full disk); cut what was written on failure."""
        self._end = -1
        while written < len(data):
            try:
                written += os.write(fd, data[written:])
            except OSError:
                _drop_fragment(fd, written)
                raise

    def _write_guarded(self, data: bytes, now: float) -> None:
        """Write under the shared lock, into the file at the path (a custom rotator may run)."""
        for _ in range(3):
            fd = self._fd if self._fd is not None else self._open()
            fd = self._before_write(fd, len(data), now)
            with self._lock_file.shared():
                if self._path_identity() == self._identity:
                    self._write(fd, data)
                    return
            self._reopen()  # rotated (or moved) since: write to the new file
        self._write(self._fd if self._fd is not None else self._open(), data)

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
            self._lock_file.close()
        finally:
            self.release()
        super().close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.baseFilename} ({logging.getLevelName(self.level)})>"


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


def _unglue(fd: int, data: bytes, newline: bytes, floor: int, previous_end: int) -> int:
    """Append ``data`` again if the line just written was glued to another writer's fragment.

    Linux may cut a write short when the writing process is killed (``SIGKILL`` between two
    pages of the copy), leaving the start of its line without a newline at the end of the file.
    The next line appended by anyone would then be glued to that fragment and be unreadable.
    After its one ``O_APPEND`` write, the handler reads the bytes just before its line: if they
    are not an encoded newline (``newline``), the line is written once more, now on a line of
    its own (the glued copy already ended the fragment's line). The fragment stays as one
    unparseable line (readers skip it); no record of a live process is lost. The read is
    skipped when the line starts where this handler's previous line ended (``previous_end``):
    the bytes before it are then that line's newline.

    Returns:
        The end of the file after the line (where the next check starts).
    """
    end = os.lseek(fd, 0, os.SEEK_CUR)
    start = end - len(data)
    if start == previous_end or start <= floor:  # after our own line, or after the mark only
        return end
    size = len(newline)
    if start < size or os.pread(fd, size, start - size) != newline:
        os.write(fd, data)
        end = os.lseek(fd, 0, os.SEEK_CUR)
    return end


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _drop_fragment(fd: int, written: int) -> None:
    """Cut the first ``written`` bytes of a line whose rest could not be written (full disk).

    Only if they are still the end of the file, so another process's line is never touched;
    a torn line would otherwise stay in the file and glue itself to the next one.
    """
    with contextlib.suppress(OSError):
        end = os.lseek(fd, 0, os.SEEK_CUR)
        if os.fstat(fd).st_size == end:
            os.ftruncate(fd, end - written)


def stat_or_none(path: str) -> os.stat_result | None:
    try:
        return Path(path).stat()
    except FileNotFoundError:
        return None
