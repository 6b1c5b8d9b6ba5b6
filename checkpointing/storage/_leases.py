"""Leases: a lock file held for the life of a process, which outlives it only if it is killed.

A process that writes to a store holds one (``LocalStorage.hold_lease``). It is an exclusive
``flock`` on a file of its own, released and removed when the process exits normally (also a
``multiprocessing`` child, whose exit runs the finalizers of :mod:`multiprocessing.util`). A
process killed by a signal, or a machine that lost power, leaves the file unlocked: whoever finds
it so knows that its holder died, possibly in the middle of a write.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from multiprocessing import util as mp_util
from pathlib import Path

__all__: list[str] = []

DEAD = ".dead"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
# Leases this process holds: path -> (pid, descriptor holding the flock).
_held: dict[str, tuple[int, int]] = {}
_lock = threading.Lock()


def hold(path: Path, flags: int) -> None:
    """Create ``path`` (``flags`` include ``O_CREAT | O_EXCL``) and lock it until this process
    ends."""
    fd = os.open(path, flags, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, json.dumps({"pid": os.getpid(), "started": time.time()}).encode())
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    with _lock:
        _held[str(path)] = (os.getpid(), fd)
    mp_util.Finalize(None, _release, args=(str(path),), exitpriority=0)


def expired(directory: Path, names: list[str]) -> list[tuple[str, float]]:
    """The leases among ``names`` in ``directory`` whose holder died, and since when (seconds).

    One found unlocked now is renamed ``<name>.dead`` and stamped with the time it was noticed.
    """
    found = []
    now = time.time()
    for base in names:
        path = directory / base
        if base.endswith(DEAD):
            with contextlib.suppress(FileNotFoundError):
                found.append((base, now - path.stat().st_mtime))
            continue
        if _held.get(str(path), (0, 0))[0] == os.getpid():
            continue  # this process's own
        try:
            fd = os.open(path, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its holder lives
            os.utime(fd)
            with contextlib.suppress(FileNotFoundError):
                path.replace(path.with_name(base + DEAD))
                found.append((base + DEAD, 0.0))
        finally:
            os.close(fd)
    return found


def _release(path: str) -> None:
    with _lock:
        pid, fd = _held.pop(path, (0, -1))
    if pid != os.getpid():
        return
    with contextlib.suppress(OSError):
        Path(path).unlink()
    with contextlib.suppress(OSError):
        os.close(fd)


def flock_exclusive(path: Path, timeout: float) -> int | None:
    """Open the lock file ``path`` (created if absent, a symlink refused) and take an exclusive
    ``flock`` on it; return the descriptor, or ``None`` after ``timeout`` seconds (``< 0``:
    wait for ever). Release with :func:`flock_release`.

    A bare ``open`` + ``flock`` (a few microseconds), compatible with ``filelock`` on the same
    file: both take a ``flock``, which excludes every other open of the file, in this process
    or another, and ends with its holder.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o644)
    try:
        if timeout < 0:
            fcntl.flock(fd, fcntl.LOCK_EX)
            return fd
        deadline = time.monotonic() + timeout
        pause = 0.001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    os.close(fd)
                    return None
                time.sleep(min(pause, left))
                pause = min(pause * 2, 0.05)
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        raise


def flock_release(fd: int) -> None:
    """Release a lock taken by :func:`flock_exclusive` (closing the descriptor releases it)."""
    os.close(fd)
