"""Locks and leases in a local directory: the locking side of :class:`LocalStorage`.

A lock is an exclusive ``flock`` on a lock file, which the operating system releases when its
holder dies, even by ``SIGKILL``; a lease is one held for the life of a process
(:mod:`checkpointing.storage._leases`).
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING

import filelock

from checkpointing._errors import LockTimeoutError
from checkpointing.storage import _leases
from checkpointing.storage._local_reads import CREATE_FLAGS

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__: list[str] = []


class LocalLocks:
    """The locking operations of the storage protocol, for a directory."""

    if TYPE_CHECKING:

        def path(self, name: str) -> Path: ...

        def names(self, subdir: str | None = None) -> list[str]: ...

        def _ensure_dir(self, directory: Path, *, again: bool = False) -> None: ...

    # -- locking -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, name: str, *, timeout: float) -> Iterator[None]:
        """Hold the inter-process lock file ``name`` for the block (``timeout < 0``: no limit).

        Raises:
            LockTimeoutError: The lock was not acquired within ``timeout`` seconds.
        """
        path = self.path(name)
        self._ensure_dir(path.parent)
        try:
            fd = _leases.flock_exclusive(path, timeout)
        except FileNotFoundError:  # the directory was deleted while this process ran
            self._ensure_dir(path.parent, again=True)
            fd = _leases.flock_exclusive(path, timeout)
        if fd is None:
            raise LockTimeoutError(path, timeout)
        try:
            yield
        finally:
            _leases.flock_release(fd)

    def try_lock(self, name: str) -> Held | None:
        """Take the inter-process lock file ``name`` without waiting, and keep it.

        Returns:
            A handle whose :meth:`Held.release` gives the lock back, or ``None`` when another
            holder (another process, or another handle in this one) has it. The operating
            system releases the lock when its holder dies, even by ``SIGKILL``.
        """
        path = self.path(name)
        self._ensure_dir(path.parent, again=not path.parent.is_dir())
        lock = filelock.FileLock(path, timeout=0)
        try:
            lock.acquire()
        except filelock.Timeout:
            return None
        return Held(lock)

    def hold_lease(self, directory: str) -> str:
        """Create a lease file in ``directory`` and hold it until this process ends.

        The lease is an exclusive ``flock`` on a new file, kept for the life of the process and
        removed when it exits normally (also in ``multiprocessing`` children). A process killed
        meanwhile leaves the file behind, unlocked, for :meth:`expired_leases` to find.

        Returns:
            The lease's name (``directory/<16 hex>``).
        """
        name = f"{directory}/{os.urandom(8).hex()}"
        path = self.path(name)
        self._ensure_dir(path.parent, again=not path.parent.is_dir())
        _leases.hold(path, CREATE_FLAGS)
        return name

    def expired_leases(self, directory: str) -> list[tuple[str, float]]:
        """Leases in ``directory`` whose holder died, with the seconds since that was noticed.

        A lease found unlocked is renamed ``<name>.dead`` (its time stamp is when it was
        noticed); remove it with :meth:`remove` once it served its purpose.
        """
        return [
            (f"{directory}/{base}", age)
            for base, age in _leases.expired(self.path(directory), self.names(directory))
        ]


class Held:
    """An inter-process lock held until :meth:`release` (or until the process ends)."""

    def __init__(self, lock: filelock.BaseFileLock) -> None:
        self._lock = lock

    def release(self) -> None:
        """Give the lock back (idempotent)."""
        if self._lock.is_locked:
            self._lock.release(force=True)
