"""The object-store backend: S3, GCS, Azure Blob (and obstore's in-memory store) via obstore.

An object store has no rename, no append and no file lock, but every PUT is atomic (readers get
the old object or the new one) and it offers conditional writes. The backend maps the storage
protocol onto those:

* an atomic write is one PUT; a staged write is kept in memory and uploaded by :meth:`commit`,
  which PUTs the staged objects in order and creates the last one (the commit point, a
  checkpoint's manifest) with If-None-Match;
* create-if-absent (:meth:`write_json_new`) is a PUT with If-None-Match, so exactly one of
  several writers wins; a PUT whose answer was lost and retried finds its own bytes and wins;
* a lock (:meth:`try_lock`, :meth:`lock`) is a lease (:mod:`._object_leases`) that expires by
  time, not by process;
* an append (:meth:`append_line`) is a read and a compare-and-swap write, retried on conflict.

At the first write the backend checks that the store honours conditional writes (it creates one
probe key twice: the second must be refused) and refuses the store otherwise, unless
``unsafe_single_writer=True`` says one process only ever writes to it.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from checkpointing._errors import LockTimeoutError, StorageError
from checkpointing.storage._object_calls import Calls
from checkpointing.storage._object_leases import try_take
from checkpointing.storage._object_reads import ObjectReads
from checkpointing.storage._strict_json import json_bytes
from checkpointing.storage._writing import (
    Buffered,
    HashingWriter,
    StagedWrite,
    WrittenFile,
    add_ms,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from checkpointing.storage._object_leases import Lease

__all__: list[str] = []

_MULTIPART = 64 << 20  # a bigger object is uploaded in parts (5 MiB+ each, in parallel)
_PROBE = "stagepoint.probe"
_APPEND_RETRIES = 50


class ObjectStorage(ObjectReads):
    """Objects under one prefix of a bucket or container, through an obstore store.

    Open one with :func:`~checkpointing.storage.open_storage` (from a URL such as
    ``s3://bucket/prefix``) rather than directly.

    Args:
        store: An obstore store (``obstore.store.S3Store``, ``GCSStore``, ``AzureStore`` or
            ``MemoryStore``) rooted at the store's prefix.
        location: The store's URL, for messages and events.
        lease_seconds: Time to live of a lock (a run's claim): a holder that stops renewing
            it (killed, partitioned) loses it this long after its last renewal.
        unsafe_single_writer: Accept a store that ignores conditional writes; safe only when
            a single process ever writes to it.
    """

    appendable = False

    def __init__(
        self,
        store: Any,
        *,
        location: str,
        lease_seconds: float = 60.0,
        unsafe_single_writer: bool = False,
    ) -> None:
        if not lease_seconds > 0:
            raise ValueError(f"lease_seconds must be > 0, not {lease_seconds!r}")
        self.calls = Calls(store, location.rstrip("/"))
        self._lease_seconds = float(lease_seconds)
        self._unsafe = unsafe_single_writer
        self._conditional: bool | None = None
        self._ready = False
        self._ready_lock = threading.Lock()
        self._seen_content = False
        #: Called before this object first writes (the store marks itself as a store).
        self.before_first_write: Callable[[], None] | None = None

    # -- the first write ---------------------------------------------------------------------

    def _prepare(self) -> None:
        """Before the first write: check conditional writes, then let the store mark itself."""
        if self._ready:
            return
        with self._ready_lock:
            if not self._ready:  # another thread may have prepared it meanwhile
                self._conditional = self._probe()
                self._ready = True
        if self.before_first_write is not None:
            self.before_first_write()

    def _probe(self) -> bool:
        """Whether the store refuses a second create of one key (If-None-Match honoured)."""
        key = f"{_PROBE}-{os.urandom(8).hex()}"
        try:
            self.calls.put(key, b"probe\n", mode="create", multipart=False)
            try:
                self.calls.put(key, b"probe\n", mode="create", multipart=False)
            except self.calls.already_exists:
                return True
        except NotImplementedError:
            pass  # the client offers no conditional PUT for this store (HTTP/WebDAV)
        except StorageError as exc:
            if not isinstance(exc.__cause__, self.calls.not_supported):
                raise
        finally:
            with contextlib.suppress(OSError):
                self.calls.delete(key)
        if self._unsafe:
            return False
        raise StorageError(
            self.location,
            "this object store does not honour conditional writes (If-None-Match), so "
            "concurrent writers could overwrite each other's commits; refusing to write. If a "
            "single process ever writes to this store, pass unsafe_single_writer=True",
        )

    def _create(self, key: str, data: Any, *, multipart: bool = False) -> bool:
        """Create ``key`` only if absent; whether this call created it."""
        if not self._conditional:  # unsafe_single_writer on a store without conditional PUT
            if self._exists_key(key):
                return self._same_bytes(key, data)
            self.calls.put(key, data, multipart=multipart)
            return True
        try:
            self.calls.put(key, data, mode="create", multipart=multipart)
        except self.calls.already_exists:
            # Ours, if an answer was lost and the client retried: the same bytes are there.
            return self._same_bytes(key, data)
        return True

    def _same_bytes(self, key: str, data: Any) -> bool:
        try:
            found, _ = self.calls.get(key)
        except FileNotFoundError:
            return False
        ours = data if isinstance(data, bytes) else b"".join(data)
        return bytes(found) == ours

    # -- writing -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def atomic_writer(self, name: str) -> Iterator[HashingWriter]:
        """A hashing file object whose bytes are uploaded as ``name`` when the block ends."""
        with self.staged_writer(name) as writer:
            yield writer
        assert isinstance(writer.staged, Buffered)
        self._upload(writer.staged)

    @contextlib.contextmanager
    def staged_writer(
        self, name: str, *, timings: dict[str, float] | None = None
    ) -> Iterator[HashingWriter]:
        """A hashing file object whose bytes stay in memory until :meth:`commit`; ``timings``
        receives the milliseconds of hashing on the caller's thread (``hash``)."""
        key = self._key(name)
        writer = HashingWriter(None, timings)
        try:
            yield writer
            sha256, xxh3 = writer.finish()
        except BaseException:
            writer.abort()
            raise
        writer.result = WrittenFile(name, writer.tell(), sha256, xxh3)
        writer.staged = Buffered(key, writer.kept)

    def stage_bytes(self, name: str, data: bytes) -> Buffered:
        """``data`` held for ``name`` until :meth:`commit`."""
        return Buffered(self._key(name), [data])

    def stage_json(
        self, name: str, obj: Any, *, timings: dict[str, float] | None = None
    ) -> Buffered:
        """Strict JSON of ``obj`` held for ``name`` until :meth:`commit`."""
        del timings  # nothing is written yet
        return self.stage_bytes(name, json_bytes(obj))

    def commit(self, *staged: StagedWrite, timings: dict[str, float] | None = None) -> None:
        """Upload the staged objects in order; the last (the commit point) only if absent.

        ``timings`` receives the milliseconds of the uploads (``upload``).

        Raises:
            FileExistsError: The last name exists already with other bytes (nothing is
                committed; the objects uploaded before it are removed).
        """
        objects = _buffered(staged)
        self._prepare()
        started = time.perf_counter()
        done: list[str] = []
        try:
            for item in objects[:-1]:
                self._upload(item)
                done.append(item.name)
            last = objects[-1]
            data, multipart = _payload(last)
            if not self._create(last.name, data, multipart=multipart):
                raise FileExistsError(17, "object exists already", self.calls.url(last.name))
        except BaseException:
            for key in done:
                with contextlib.suppress(OSError):
                    self.calls.delete(key)
            raise
        add_ms(timings, "upload", started)

    def _upload(self, item: Buffered) -> None:
        self._prepare()
        data, multipart = _payload(item)
        self.calls.put(item.name, data, multipart=multipart)

    def discard(self, *staged: StagedWrite) -> None:
        """Drop staged objects (nothing was uploaded)."""
        for item in _buffered(staged):
            item.chunks.clear()

    def write_bytes_atomic(self, name: str, data: bytes, *, durable: bool = True) -> None:
        """Replace ``name`` by ``data`` (one PUT: atomic and durable when it returns)."""
        del durable  # a PUT that returned is durable
        self._upload(Buffered(self._key(name), [data]))

    def write_json_atomic(self, name: str, obj: Any) -> None:
        """Replace ``name`` by the strict JSON of ``obj`` (one PUT)."""
        self.write_bytes_atomic(name, json_bytes(obj))

    def write_json_new(self, name: str, obj: Any) -> bool:
        """Create ``name`` holding ``obj`` only if absent (If-None-Match): exactly one winner.

        Returns:
            True if this call created it, False if it existed.
        """
        key = self._key(name)
        self._prepare()
        return self._create(key, json_bytes(obj))

    def replace_json(self, name: str, obj: Any, *, version: str | None) -> str:
        """Write the JSON of ``obj`` to ``name`` only if its ETag is still ``version`` (If-Match),
        or, with ``None``, only if it is absent (If-None-Match).

        Returns:
            The new ETag.

        Raises:
            FileExistsError: ``name`` changed since ``version`` was read.
        """
        key = self._key(name)
        self._prepare()
        data = json_bytes(obj)
        if not self._conditional:  # unsafe_single_writer: nobody else writes
            return str(self.calls.put(key, data, multipart=False).get("e_tag"))
        mode: str | dict[str, Any] = "create" if version is None else {"e_tag": version}
        try:
            result = self.calls.put(key, data, mode=mode, multipart=False)
        except (self.calls.already_exists, self.calls.precondition_failed):
            raise FileExistsError(17, "changed since it was read", self.calls.url(key)) from None
        return str(result.get("e_tag"))

    def append_line(self, name: str, line: bytes) -> None:
        """Append one line: read, then write back with If-Match (If-None-Match when new)."""
        key = self._key(name)
        self._prepare()
        for _ in range(_APPEND_RETRIES):
            try:
                data, meta = self.calls.get(key)
            except FileNotFoundError:
                if self._create(key, line):
                    return
                continue
            body = bytes(data)
            if body and not body.endswith(b"\n"):
                body += b"\n"
            try:
                self.calls.put(
                    key,
                    body + line,
                    mode={"e_tag": meta.get("e_tag")},
                    multipart=False,
                )
            except self.calls.precondition_failed:
                time.sleep(0.01)
                continue
            return
        raise StorageError(self.path(name), "append kept conflicting with other writers")

    # -- locking -----------------------------------------------------------------------------

    def try_lock(self, name: str) -> Lease | None:
        """Take the lease ``name`` if it is free or expired; ``None`` while another holds it."""
        key = self._key(name)
        self._prepare()
        return try_take(self.calls, key, ttl=self._lease_seconds)

    @contextlib.contextmanager
    def lock(self, name: str, *, timeout: float) -> Iterator[None]:
        """Hold the lease ``name`` for the block, waiting up to ``timeout`` seconds for it.

        Raises:
            LockTimeoutError: It was not free within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        pause = 0.02
        while (held := self.try_lock(name)) is None:
            if time.monotonic() >= deadline:
                raise LockTimeoutError(self.path(name), timeout)
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
        try:
            yield
        finally:
            held.release()

    def hold_lease(self, directory: str) -> str:
        """A writer's lease name; nothing is written (an upload leaves no partial object, and
        orphaned data objects are found by their age)."""
        return f"{self._key(directory)}/{os.urandom(8).hex()}"

    def expired_leases(self, directory: str) -> list[tuple[str, float]]:
        """None (see :meth:`hold_lease`)."""
        del directory
        return []


def _buffered(staged: tuple[StagedWrite, ...]) -> tuple[Buffered, ...]:
    objects = tuple(s for s in staged if isinstance(s, Buffered))
    if len(objects) != len(staged) or not objects:
        raise TypeError("only objects staged by an ObjectStorage can be committed to it")
    return objects


def _payload(item: Buffered) -> tuple[bytes | list[bytes], bool]:
    """What to upload for ``item``, and whether in parts: a big object goes up in parts from its
    chunks, a small one as one body."""
    if sum(len(c) for c in item.chunks) > _MULTIPART:
        return item.chunks, True
    return _joined(item.chunks), False


def _joined(chunks: list[bytes]) -> bytes:
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
