"""Writing a file while hashing it, and committing staged files together.

:class:`HashingWriter` is the file object pyarrow's Parquet writer writes into: it writes with
``os.writev`` (or keeps the bytes, for an object store's upload) and computes SHA-256 (the
published ``data_hash``) and xxh3_64 (the checksum of every load) of the very bytes written.
:class:`Staged` is a file written under its temporary name, waiting for
:meth:`LocalStorage.commit <checkpointing.storage._local.LocalStorage.commit>`, which fsyncs
several staged files at once through :func:`fsync_later`; :class:`Buffered` is an object's
bytes waiting for :meth:`ObjectStorage.commit <checkpointing.storage.ObjectStorage.commit>`.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import xxhash

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__: list[str] = []

_COALESCE = 1 << 20  # hand chunks of about 1 MiB to the disk and the hashing thread
_MAX_CHUNKS = 512  # stay below IOV_MAX for os.writev


@dataclass(frozen=True)
class WrittenFile:
    """What :meth:`LocalStorage.atomic_writer` wrote: final name, size and digests."""

    name: str
    size: int
    sha256: str
    xxh3: str  # xxh3_64 of the bytes, 16 hex digits


@dataclass(frozen=True)
class Staged:
    """A file written under its temporary name: neither durable nor visible yet."""

    fd: int
    tmp: Path
    final: Path


@dataclass(frozen=True)
class Buffered:
    """An object's bytes held in memory until its upload commits it (object stores)."""

    name: str
    chunks: list[bytes]


#: What :meth:`Storage.commit` takes: a staged file or a buffered object, by backend.
StagedWrite = Staged | Buffered


_fsync_pool: concurrent.futures.ThreadPoolExecutor | None = None


def fsync_later(fd: int) -> Callable[[], None]:
    """Start ``os.fsync(fd)`` on a worker thread; return a function that waits for it."""
    global _fsync_pool  # noqa: PLW0603 - one small pool per process, made on first use
    if _fsync_pool is None:
        _fsync_pool = concurrent.futures.ThreadPoolExecutor(1, "checkpoint-fsync")
    future = _fsync_pool.submit(os.fsync, fd)
    return future.result


def _forget_fsync_pool() -> None:
    global _fsync_pool  # noqa: PLW0603
    _fsync_pool = None  # a forked child has none of its parent's threads


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_fsync_pool)


def add_ms(timings: dict[str, float] | None, phase: str, started: float) -> None:
    """Add the milliseconds since ``started`` (a ``time.perf_counter()``) to ``phase``.

    The timings of a storage operation: a backend names the phases of what it did (the local
    one ``write``, ``hash``, ``fsync``, ``rename``; an object store ``upload``), and a
    phase met twice (two files written) adds up.
    """
    if timings is not None:
        timings[phase] = timings.get(phase, 0.0) + (time.perf_counter() - started) * 1e3


def xxh3_hex(data: Any) -> str:
    """The xxh3_64 digest of ``data`` (bytes or a buffer) as 16 hex digits."""
    return str(xxhash.xxh3_64_hexdigest(data))


class HashingWriter:
    """A write-only file object that writes to a descriptor and hashes what it writes.

    pyarrow's Parquet writer calls :meth:`write` with freshly allocated bytes; they are coalesced
    into ~1 MiB chunks and written with ``os.writev``. The first full chunk starts a thread that
    feeds SHA-256 and xxh3_64 (both release the GIL), so hashing overlaps encoding; a file that
    never fills a chunk is hashed inline when it is finished, without a thread.
    """

    closed = False
    result: WrittenFile | None = None
    staged: StagedWrite | None = None

    def __init__(self, fd: int | None, timings: dict[str, float] | None = None) -> None:
        self._fd = fd
        self._timings = timings
        #: With no descriptor (``fd=None``): every chunk written, in order, for an upload.
        self.kept: list[bytes] = []
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._size = 0
        self._sha = hashlib.sha256()
        self._xxh = xxhash.xxh3_64()
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def _hash_loop(self) -> None:
        sha, xxh, get = self._sha.update, self._xxh.update, self._queue.get
        while (chunk := get()) is not None:
            sha(chunk)
            xxh(chunk)

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._size

    def write(self, data: Any) -> int:
        chunk = bytes(data) if not isinstance(data, bytes) else data
        n = len(chunk)
        self._size += n
        self._pending.append(chunk)
        self._pending_size += n
        if self._pending_size >= _COALESCE or len(self._pending) >= _MAX_CHUNKS:
            self._drain()
        return n

    def _drain(self) -> None:
        if not self._pending:
            return
        chunks, total = self._pending, self._pending_size
        self._pending, self._pending_size = [], 0
        if self._fd is None:
            self.kept += chunks
        else:
            started = time.perf_counter()
            written = os.writev(self._fd, chunks)  # no copy into one buffer
            if written < total:  # a short write: finish the rest the slow way
                view = memoryview(b"".join(chunks))[written:]
                while view:
                    view = view[os.write(self._fd, view) :]
            add_ms(self._timings, "write", started)
        if self._thread is None and total >= _COALESCE:
            self._thread = threading.Thread(
                target=self._hash_loop, name="checkpoint-hash", daemon=True
            )
            self._thread.start()
        if self._thread is not None:
            for chunk in chunks:
                self._queue.put(chunk)
        else:
            started = time.perf_counter()
            for chunk in chunks:
                self._sha.update(chunk)
                self._xxh.update(chunk)
            add_ms(self._timings, "hash", started)

    def flush(self) -> None:
        self._drain()

    def finish(self) -> tuple[str, str]:
        """Write what is pending, stop the hashing thread; return (sha256 hex, xxh3_64 hex).

        Waiting for the hashing thread counts as ``hash`` in the timings.
        """
        self._drain()
        if self._thread is not None:
            started = time.perf_counter()
            self.abort()
            add_ms(self._timings, "hash", started)
        return self._sha.hexdigest(), self._xxh.hexdigest()

    def abort(self) -> None:
        """Stop the hashing thread, if one was started."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
