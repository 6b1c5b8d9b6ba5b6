"""Calls to an object store through obstore: error translation, retries, conditional writes.

Every request the object backend makes goes through :class:`Calls`, which

* turns "not found" of a read into :class:`FileNotFoundError` (what the storage protocol
  promises), and every other failure (a missing bucket when writing or listing included), after
  the retries obstore's client makes itself (timeouts, 5xx, 429), into a
  :class:`~checkpointing.StorageError` naming the object and the operation;
* retries a conditional request that a store answered with 409 Conflict (S3 does when two
  conditional writes of one key overlap): the request is idempotent, so the retry either wins or
  gets the clear answer (already exists, precondition failed);
* counts the requests by kind, for tests, benchmarks and the cost figures in the docs.
"""

from __future__ import annotations

import collections
import errno
import threading
import time
from typing import TYPE_CHECKING, Any, Literal

from checkpointing._errors import StorageError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__: list[str] = []

_CONFLICT_RETRIES = 6
_CONFLICT_PAUSE = 0.05  # seconds, doubled after each conflict

Kind = Literal["GET", "HEAD", "LIST", "PUT", "DELETE"]


class Calls:
    """The requests of one object store (``store``, an obstore store) at ``location``."""

    def __init__(self, store: Any, location: str) -> None:
        import obstore  # the optional extra; checked by open_storage before we get here
        import obstore.exceptions as errors

        self._obs = obstore
        self._errors = errors
        self.store = store
        self.location = location
        #: Requests made so far, by kind (``GET``, ``HEAD``, ``LIST``, ``PUT``, ``DELETE``).
        self.counts: collections.Counter[str] = collections.Counter()
        self._count_lock = threading.Lock()

    # -- accounting and errors -----------------------------------------------------------------

    def _count(self, kind: Kind, n: int = 1) -> None:
        with self._count_lock:
            self.counts[kind] += n

    def _call(self, kind: Kind, key: str, what: str, call: Callable[[], Any]) -> Any:
        """Make one request, retrying a 409 Conflict; translate its errors."""
        pause = _CONFLICT_PAUSE
        for attempt in range(_CONFLICT_RETRIES):
            self._count(kind)
            try:
                return call()
            except (self._errors.NotFoundError, FileNotFoundError) as exc:
                if kind in ("GET", "HEAD"):
                    raise FileNotFoundError(errno.ENOENT, "no such object", self.url(key)) from None
                raise StorageError(
                    self.url(key), f"{what} failed (no such bucket?): {_first_line(exc)}"
                ) from exc
            except (self._errors.AlreadyExistsError, self._errors.PreconditionError):
                raise
            except self._errors.BaseError as exc:
                if _is_conflict(exc) and attempt + 1 < _CONFLICT_RETRIES:
                    time.sleep(pause)
                    pause *= 2
                    continue
                raise StorageError(self.url(key), f"{what} failed: {_first_line(exc)}") from exc
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def url(self, key: str) -> str:
        """The URL of ``key`` in this store, for messages."""
        return f"{self.location}/{key}" if key else self.location

    # -- requests ------------------------------------------------------------------------------

    def get(self, key: str) -> tuple[Any, dict[str, Any]]:
        """The bytes (an ``obstore.Bytes`` buffer) and metadata of ``key``."""

        def call() -> tuple[Any, dict[str, Any]]:
            result = self._obs.get(self.store, key)
            return result.bytes(), dict(result.meta)

        found: tuple[Any, dict[str, Any]] = self._call("GET", key, "read", call)
        return found

    def get_range(self, key: str, start: int, length: int) -> bytes:
        """Up to ``length`` bytes of ``key`` from ``start`` (one ranged GET)."""
        data = self._call(
            "GET",
            key,
            "read",
            lambda: self._obs.get_range(self.store, key, start=start, length=length),
        )
        return bytes(data)

    def head(self, key: str) -> dict[str, Any]:
        """The metadata of ``key`` (size, last_modified, e_tag)."""
        meta: dict[str, Any] = self._call(
            "HEAD", key, "stat", lambda: self._obs.head(self.store, key)
        )
        return meta

    def put(
        self, key: str, data: Any, *, mode: str | dict[str, Any] | None = None, multipart: bool
    ) -> dict[str, Any]:
        """Upload ``data`` (bytes or a list of buffers) as ``key``; its ETag and version.

        ``mode="create"`` is If-None-Match (``AlreadyExistsError`` when the key exists);
        ``mode={"e_tag": ...}`` is If-Match (``PreconditionError`` when it changed).
        """

        def call() -> dict[str, Any]:
            return dict(self._obs.put(self.store, key, data, mode=mode, use_multipart=multipart))

        result: dict[str, Any] = self._call("PUT", key, "write", call)
        return result

    def delete(self, key: str) -> None:
        """Delete ``key`` (no error when it is already gone)."""
        self._call("DELETE", key, "delete", lambda: self._obs.delete(self.store, key))

    def list_from(self, offset: str) -> Iterator[dict[str, Any]]:
        """Objects after ``offset`` in key order, fetched a page at a time as consumed."""
        stream = self._call(
            "LIST",
            offset,
            "list",
            lambda: self._obs.list(self.store, offset=offset, chunk_size=1000),
        )
        pages = iter(stream)
        first = True
        while True:
            if not first:
                self._count("LIST")
            first = False
            try:
                page = next(pages)
            except StopIteration:
                return
            except self._errors.BaseError as exc:
                raise StorageError(self.url(offset), f"list failed: {_first_line(exc)}") from exc
            yield from page
            if len(page) < 1000:
                return

    def list_dir(self, prefix: str | None) -> list[dict[str, Any]]:
        """The objects directly under ``prefix`` (the root for ``None``)."""
        found = self._call(
            "LIST",
            prefix or "",
            "list",
            lambda: self._obs.list_with_delimiter(self.store, prefix=prefix),
        )
        objects: list[dict[str, Any]] = found["objects"]
        return objects

    @property
    def already_exists(self) -> type[Exception]:
        """obstore's error for a create (If-None-Match) of a key that exists."""
        error: type[Exception] = self._errors.AlreadyExistsError
        return error

    @property
    def precondition_failed(self) -> type[Exception]:
        """obstore's error for a compare-and-swap (If-Match) that lost."""
        error: type[Exception] = self._errors.PreconditionError
        return error

    @property
    def not_supported(self) -> type[Exception]:
        """obstore's error for a request mode the store does not offer."""
        error: type[Exception] = self._errors.NotSupportedError
        return error


def _is_conflict(exc: BaseException) -> bool:
    text = str(exc)
    return "409" in text or "Conflict" in text


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
