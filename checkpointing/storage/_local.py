"""Every filesystem operation of the checkpoint store: atomic writes, reads, listing, removal.

The manager and the registry never touch the filesystem themselves; they go through
:class:`LocalStorage`, so another backend (an object store) can be added behind the same narrow
interface.

Atomic write protocol: a temporary file in the same directory, created with
``O_CREAT | O_EXCL | O_NOFOLLOW`` and named ``.tmp-<name>-<16 hex>``, is written, flushed and
fsync'd, renamed over the final name with ``os.replace`` and the directory is fsync'd. A reader
sees the old file or the new one, never a torn one; a crash leaves at most a temporary file that
:meth:`LocalStorage.leftovers` finds. Several files can be committed together
(:meth:`LocalStorage.commit`): fsync'd at once, renamed in order, one directory fsync.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checkpointing.storage._local_locks import LocalLocks
from checkpointing.storage._local_reads import CREATE_FLAGS, TEMP_PREFIX, LocalReads, file_version
from checkpointing.storage._names import validate_name
from checkpointing.storage._strict_json import json_bytes
from checkpointing.storage._writing import (
    HashingWriter,
    Staged,
    StagedWrite,
    WrittenFile,
    add_ms,
    fsync_later,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__: list[str] = []

_PATHS_KEPT = 1_024  # names remembered by LocalStorage.path, forgotten all at once beyond

# The journal: appended in place, so a symlink planted at its name must not be followed.
_APPEND_FLAGS = (
    os.O_RDWR
    | os.O_APPEND
    | os.O_CREAT
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


class LocalStorage(LocalReads, LocalLocks):
    """Files in one local directory (and subdirectories it creates, like ``runs/``).

    Names are relative POSIX paths whose every part passes :func:`validate_name`, so nothing
    escapes the directory. The directory is created on the first write, and again by a write
    after it was deleted; a path that is a file raises ``NotADirectoryError``. All methods are
    thread and process safe in the sense of the atomic write protocol above.

    Writing is here; reading, listing and removal are in
    :class:`~checkpointing.storage._local_reads.LocalReads`, locks and leases in
    :class:`~checkpointing.storage._local_locks.LocalLocks`.
    """

    appendable = True

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._made: set[Path] = set()
        # Names checked and joined already: a save looks up its few names a score of times.
        self._paths: dict[str, Path] = {}
        #: Called after this object first creates (or re-creates) a directory to write into,
        #: before anything is written there: the store marks the directory as its own.
        self.before_first_write: Callable[[], None] | None = None

    # -- names -------------------------------------------------------------------------------

    @property
    def location(self) -> str:
        """The directory, as given."""
        return str(self.root)

    def path(self, name: str) -> Path:
        """The local path of ``name``; raises InvalidNameError if it would leave the directory."""
        found = self._paths.get(name)
        if found is not None:
            return found
        parts = name.split("/")
        for part in parts:
            validate_name(part, what="file name")
        found = self.root.joinpath(*parts)
        if len(self._paths) >= _PATHS_KEPT:
            self._paths.clear()
        self._paths[name] = found
        return found

    def _ensure_dir(self, directory: Path, *, again: bool = False) -> None:
        """Create ``directory`` once per storage object (``again``: it was deleted meanwhile)."""
        if again or directory not in self._made:
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except FileExistsError:
                # mkdir(exist_ok=True) says only "File exists" when the path is a file.
                raise NotADirectoryError(
                    errno.ENOTDIR, "exists and is not a directory", str(directory)
                ) from None
            self._made.add(directory)
            if self.before_first_write is not None:
                self.before_first_write()

    def _fsync_dir(self, directory: Path) -> None:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- writing -----------------------------------------------------------------------------

    def _open_temp(self, name: str) -> tuple[int, Path, Path]:
        final = self.path(name)
        self._ensure_dir(final.parent)
        tmp = final.with_name(f"{TEMP_PREFIX}{final.name}-{os.urandom(8).hex()}")
        try:
            return os.open(tmp, CREATE_FLAGS, 0o644), tmp, final
        except FileNotFoundError:
            # The directory was deleted while this process ran: create it again.
            self._ensure_dir(final.parent, again=True)
            return os.open(tmp, CREATE_FLAGS, 0o644), tmp, final

    @contextlib.contextmanager
    def atomic_writer(self, name: str) -> Iterator[HashingWriter]:
        """Yield a hashing file object; on a clean exit the file appears atomically as ``name``.

        After the block, the writer's ``result`` describes the file (size, SHA-256, xxh3_64). On an
        exception the temporary file is removed and nothing appears; an ``OSError`` of the write
        itself (full disk, file size limit) is re-raised naming ``name``'s path.
        """
        with self.staged_writer(name) as writer:
            yield writer
        assert isinstance(writer.staged, Staged)
        self._commit((writer.staged,), create_last=False)

    @contextlib.contextmanager
    def staged_writer(
        self, name: str, *, timings: dict[str, float] | None = None
    ) -> Iterator[HashingWriter]:
        """Like :meth:`atomic_writer`, but the file is left staged: written under its temporary
        name, neither durable nor visible until :meth:`commit` (the writer's ``staged``).

        ``timings`` receives the milliseconds spent writing (``write``) and hashing on the
        caller's thread (``hash``)."""
        fd, tmp, final = self._open_temp(name)
        writer = HashingWriter(fd, timings)
        try:
            yield writer
            sha256, xxh3 = writer.finish()
        except BaseException as exc:
            writer.abort()
            self.discard(Staged(fd, tmp, final))
            _raise_with_path(exc, final)
            raise
        writer.result = WrittenFile(name, writer.tell(), sha256, xxh3)
        writer.staged = Staged(fd, tmp, final)

    def stage_bytes(
        self, name: str, data: bytes, *, timings: dict[str, float] | None = None
    ) -> Staged:
        """Write ``data`` to a temporary file for ``name``, to be :meth:`commit`-ted."""
        started = time.perf_counter()
        fd, tmp, final = self._open_temp(name)
        staged = Staged(fd, tmp, final)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except BaseException as exc:
            self.discard(staged)
            _raise_with_path(exc, final)
            raise
        add_ms(timings, "write", started)
        return staged

    def stage_json(self, name: str, obj: Any, *, timings: dict[str, float] | None = None) -> Staged:
        """Strict JSON (no NaN) of ``obj`` in a temporary file for ``name`` (see :meth:`commit`).

        ``timings`` receives the milliseconds spent writing the file (``write``)."""
        return self.stage_bytes(name, json_bytes(obj), timings=timings)

    def commit(self, *staged: StagedWrite, timings: dict[str, float] | None = None) -> None:
        """Make staged files durable, then visible under their names, in the order given.

        Every file is fsync'd (concurrently, so the filesystem can commit them together), then
        each is renamed over its name in order, the last (the commit point) linked to its name
        only if that name is free, and each directory involved is fsync'd once. A reader (or a
        process after a crash) sees a file complete or not at all, and never a later one without
        the earlier ones. On an error the temporary files still unrenamed are removed and the
        error names the file. ``timings`` receives the milliseconds of the fsyncs of the files
        and directories (``fsync``) and of the renames (``rename``).

        Raises:
            FileExistsError: The last name exists already (nothing of it is committed).
        """
        self._commit(_files(staged), create_last=True, timings=timings)

    def _commit(
        self,
        files: tuple[Staged, ...],
        *,
        create_last: bool,
        timings: dict[str, float] | None = None,
    ) -> None:
        started = time.perf_counter()
        try:
            pending = [fsync_later(s.fd) for s in files[1:]]
            os.fsync(files[0].fd)
            for wait in pending:
                wait()
        except BaseException as exc:
            self.discard(*files)
            _raise_with_path(exc, files[0].final)
            raise
        for s in files:
            os.close(s.fd)
        add_ms(timings, "fsync", started)
        started = time.perf_counter()
        for i, s in enumerate(files):
            try:
                if not create_last or i < len(files) - 1:
                    s.tmp.replace(s.final)
                else:  # the commit point: create-if-absent, like write_json_new
                    os.link(s.tmp, s.final)
                    s.tmp.unlink()
            except BaseException:
                for rest in files[i:]:
                    rest.tmp.unlink(missing_ok=True)
                raise
        add_ms(timings, "rename", started)
        started = time.perf_counter()
        for directory in dict.fromkeys(s.final.parent for s in files):
            self._fsync_dir(directory)
        add_ms(timings, "fsync", started)

    def discard(self, *staged: StagedWrite) -> None:
        """Close and remove staged files that will not be committed."""
        for s in _files(staged):
            with contextlib.suppress(OSError):
                os.close(s.fd)
            s.tmp.unlink(missing_ok=True)

    def write_bytes_atomic(self, name: str, data: bytes, *, durable: bool = True) -> None:
        """Replace ``name`` by ``data`` atomically and (unless ``durable=False``) durably.

        ``durable=False`` skips the fsyncs, for files that can be rebuilt: readers still see the
        old bytes or the new, but a power cut may leave the old ones (or an empty file).
        """
        staged = self.stage_bytes(name, data)
        if durable:
            self._commit((staged,), create_last=False)
            return
        os.close(staged.fd)
        try:
            staged.tmp.replace(staged.final)
        except BaseException:
            staged.tmp.unlink(missing_ok=True)
            raise

    def write_json_atomic(self, name: str, obj: Any) -> None:
        """Write ``obj`` as strict JSON (no NaN) to ``name``, atomically and durably."""
        self._commit((self.stage_json(name, obj),), create_last=False)

    def write_json_new(self, name: str, obj: Any) -> bool:
        """Create ``name`` holding ``obj`` as strict JSON, only if it does not exist yet.

        The file appears whole and durable, or not at all. Of several threads or processes
        racing to create the same name, exactly one wins; the others leave it untouched.

        Returns:
            True if this call created ``name``, False if it already existed.
        """
        data = json_bytes(obj)
        fd, tmp, final = self._open_temp(name)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
            os.close(fd)
            fd = -1
            try:
                os.link(tmp, final)  # refuses an existing name: the atomic create-if-absent
            except FileExistsError:
                return False
            self._fsync_dir(final.parent)
            return True
        except BaseException as exc:
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
            _raise_with_path(exc, final)
            raise
        finally:
            tmp.unlink(missing_ok=True)

    def replace_json(self, name: str, obj: Any, *, version: str | None) -> str:
        """Replace ``name`` by the JSON of ``obj`` if it is still at ``version`` (``None``: absent).

        The check and the replace are not one atomic step here: callers hold the lock that
        makes them the only writer (a run's claim), and the check catches a file changed by
        anyone else meanwhile.

        Returns:
            The new version.

        Raises:
            FileExistsError: ``name`` is not at ``version``.
        """
        path = self.path(name)
        try:
            current: str | None = file_version(path.stat())
        except FileNotFoundError:
            current = None
        if current != version:
            raise FileExistsError(errno.EEXIST, "changed since it was read", str(path))
        self.write_json_atomic(name, obj)
        return file_version(path.stat())

    def append_line(self, name: str, line: bytes) -> None:
        """Append one line with a single ``O_APPEND`` write (call under a lock).

        If the file does not end with a newline (a writer was killed mid-line), a newline is
        written first in the same call, so the torn line never swallows this one. A symlink
        at ``name`` is not followed (``OSError``).
        """
        path = self.path(name)
        self._ensure_dir(path.parent)
        fd = os.open(path, _APPEND_FLAGS, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line
            os.write(fd, line)
        finally:
            os.close(fd)


def _files(staged: tuple[StagedWrite, ...]) -> tuple[Staged, ...]:
    """The staged files of this backend (a buffered object is another backend's)."""
    files = tuple(s for s in staged if isinstance(s, Staged))
    if len(files) != len(staged):
        raise TypeError("only files staged by a LocalStorage can be committed to it")
    return files


def _raise_with_path(exc: BaseException, final: Path) -> None:
    """Re-raise an OSError of a bare ``os.write``/``fsync`` (no file name) naming ``final``.

    ``[Errno 28] No space left on device`` alone does not say which file could not be written;
    the same error class and errno are kept so callers can still test ``errno``.
    """
    if isinstance(exc, OSError) and exc.filename is None and exc.errno is not None:
        raise type(exc)(exc.errno, exc.strerror, str(final)) from exc
