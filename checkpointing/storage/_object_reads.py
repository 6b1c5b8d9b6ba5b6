"""Naming, reading, listing and removing in an object store: the read side of ObjectStorage.

A mixin of :class:`~checkpointing.storage.ObjectStorage`, which adds writing and locking.
Every request goes through :class:`~checkpointing.storage._object_calls.Calls`.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from checkpointing.storage._names import validate_name
from checkpointing.storage._strict_json import json_loads

if TYPE_CHECKING:
    from checkpointing.storage._object_calls import Calls

__all__: list[str] = []


class ObjectReads:
    """The naming, reading, listing and removing operations of the storage protocol."""

    calls: Calls
    _ready: bool
    _seen_content: bool

    # -- names -------------------------------------------------------------------------------

    @property
    def location(self) -> str:
        """The store's URL."""
        return self.calls.location

    def _key(self, name: str) -> str:
        for part in name.split("/"):
            validate_name(part, what="object name")
        return name

    def path(self, name: str) -> str:
        """The URL of ``name``; raises InvalidNameError for a name that is not valid."""
        return self.calls.url(self._key(name))

    @property
    def request_counts(self) -> dict[str, int]:
        """Requests made through this object so far, by kind (GET, HEAD, LIST, PUT, DELETE)."""
        return dict(self.calls.counts)

    def read_json_version(self, name: str) -> tuple[Any, str]:
        """The strict JSON value in ``name`` and its ETag (one GET)."""
        data, meta = self.calls.get(self._key(name))
        return json_loads(bytes(data)), str(meta.get("e_tag"))

    # -- reading -----------------------------------------------------------------------------

    def read_bytes(self, name: str) -> bytes:
        """The bytes of ``name`` (one GET); FileNotFoundError when absent."""
        data, _ = self.calls.get(self._key(name))
        return bytes(data)

    def read_range(self, name: str, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes of ``name`` from ``offset`` (one ranged GET)."""
        key = self._key(name)
        size = self.size(name)
        if offset >= size or length <= 0:
            return b""
        return self.calls.get_range(key, offset, min(length, size - offset))

    def read_all(self, subdir: str, suffix: str) -> dict[str, bytes]:
        """The bytes of every object directly in ``subdir`` whose name ends with ``suffix``."""
        found: dict[str, bytes] = {}
        for base in self.names(subdir):
            if base.endswith(suffix):
                with contextlib.suppress(FileNotFoundError):
                    found[base] = self.read_bytes(f"{subdir}/{base}")
        return found

    def read_json(self, name: str) -> Any:
        """The strict JSON value in ``name``; FileNotFoundError, or ValueError if not JSON."""
        return json_loads(self.read_bytes(name))

    def map(self, name: str) -> pa.Buffer:
        """The whole of ``name`` as a pyarrow buffer over the downloaded bytes (no copy)."""
        data, _ = self.calls.get(self._key(name))
        return pa.py_buffer(data)

    def root_exists(self) -> bool:
        """Whether any object is under the store's prefix (one LIST, until one was seen)."""
        if self._seen_content or self._ready:
            return True
        for _ in self.calls.list_from(""):
            self._seen_content = True
            return True
        return False

    def _exists_key(self, key: str) -> bool:
        try:
            self.calls.head(key)
        except FileNotFoundError:
            return False
        return True

    def exists(self, name: str) -> bool:
        """Whether ``name`` exists (one HEAD)."""
        return self._exists_key(self._key(name))

    def size(self, name: str) -> int:
        """The size of ``name`` in bytes (one HEAD); FileNotFoundError when absent."""
        return int(self.calls.head(self._key(name))["size"])

    def names(self, subdir: str | None = None) -> list[str]:
        """The names of the objects directly under the root (or ``subdir``)."""
        prefix = None if subdir is None else self._key(subdir)
        cut = 0 if prefix is None else len(prefix) + 1
        return [str(o["path"])[cut:] for o in self.calls.list_dir(prefix)]

    def names_starting(self, prefix: str) -> list[str]:
        """Names directly under the root starting with ``prefix``: one LIST from ``prefix``,
        read only as far as keys keep the prefix."""
        found = []
        for meta in self.calls.list_from(prefix):
            key = str(meta["path"])
            if not key.startswith(prefix):
                break
            if "/" not in key:
                found.append(key)
        return found

    def age_seconds(self, name: str) -> float:
        """Seconds since ``name`` was written, by the store's clock (one HEAD)."""
        written = self.calls.head(self._key(name))["last_modified"]
        assert isinstance(written, datetime)
        return (datetime.now(UTC) - written).total_seconds()

    # -- removing ----------------------------------------------------------------------------

    def remove(self, name: str) -> bool:
        """Delete ``name``; whether it existed (a HEAD, then a DELETE)."""
        key = self._key(name)
        if not self._exists_key(key):
            return False
        self.calls.delete(key)
        return True

    def leftovers(self, *, older_than: float, subdir: str | None = None) -> list[str]:
        """None: a PUT leaves no temporary object behind."""
        del older_than, subdir
        return []

    def remove_raw(self, name: str) -> bool:
        """Remove ``name`` (see :meth:`leftovers`)."""
        return self.remove(name)

    def age_seconds_raw(self, name: str) -> float:
        """Like :meth:`age_seconds`."""
        return self.age_seconds(name)
