"""The storage protocol: every operation the store and the run records need from a backend.

Names are relative POSIX paths (``"<id>.json"``, ``"runs/<id>.json"``) whose parts pass
:func:`~checkpointing.validate_name`. A backend promises: a write is atomic and durable when it
returns (readers see the old bytes or the new, never a mix); a create-if-absent has exactly one
winner; a lock excludes every other holder, in this process or another, and ends with its holder
(the local backend: when the process dies; an object store: when its lease runs out).

Backends differ in what they can do cheaply, and say so in :attr:`Storage.appendable`: the local
directory appends to a file under a file lock, so the store keeps an append-only registry there;
an object store has neither, so its registry is the listing of the manifests themselves.

Timings: the writing operations of a save take an optional ``timings`` dict and add to it the
milliseconds of each phase of what the backend did, under names of its own choosing (see
:func:`~checkpointing.storage._writing.add_ms`): the local backend reports ``write``, ``hash``,
``fsync`` and ``rename``; an object store reports ``upload`` instead. They end up in the
``timings_ms`` of the ``checkpoint_saved`` event beside the store's own phases.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import contextlib
    from collections.abc import Callable
    from pathlib import Path

    import pyarrow as pa

    from checkpointing.storage._writing import HashingWriter, StagedWrite

__all__: list[str] = []


class Held(Protocol):
    """A lock taken by :meth:`Storage.try_lock`, held until :meth:`release`."""

    def release(self) -> None:
        """Give the lock back (idempotent)."""
        ...


class Storage(Protocol):
    """What the checkpoint store and the run records use.

    :class:`~checkpointing.storage.LocalStorage` and
    :class:`~checkpointing.storage.ObjectStorage` implement it.
    """

    #: Called once before the first write into the store (the store marks it as its own).
    before_first_write: Callable[[], None] | None

    #: Whether :meth:`append_line` and :meth:`lock` are cheap (a local file and a file lock),
    #: so an append-only index pays; otherwise the store lists its manifests instead.
    appendable: bool

    @property
    def location(self) -> str:
        """Where the store lives: a directory, or an object store URL (for messages)."""
        ...

    def path(self, name: str) -> str | Path:
        """Where ``name`` lives (for messages); raises InvalidNameError for a bad name."""
        ...

    # writing
    def atomic_writer(self, name: str) -> contextlib.AbstractContextManager[HashingWriter]:
        """A file object whose bytes appear as ``name`` atomically when the block ends."""
        ...

    def staged_writer(
        self, name: str, *, timings: dict[str, float] | None = None
    ) -> contextlib.AbstractContextManager[HashingWriter]:
        """Like :meth:`atomic_writer`, but the file stays staged until :meth:`commit`."""
        ...

    def stage_json(
        self, name: str, obj: Any, *, timings: dict[str, float] | None = None
    ) -> StagedWrite:
        """Strict JSON of ``obj`` staged for ``name`` (see :meth:`commit`)."""
        ...

    def stage_bytes(self, name: str, data: bytes) -> StagedWrite:
        """``data`` staged for ``name`` (see :meth:`commit`)."""
        ...

    def commit(self, *staged: StagedWrite, timings: dict[str, float] | None = None) -> None:
        """Make staged files durable, then visible, in the order given.

        Every name is new (a fresh checkpoint id); the last one is the commit point, and a
        backend with conditional writes creates it only if absent.
        """
        ...

    def discard(self, *staged: StagedWrite) -> None:
        """Drop staged files that will not be committed."""
        ...

    def write_bytes_atomic(self, name: str, data: bytes, *, durable: bool = True) -> None:
        """Replace ``name`` by ``data`` atomically (and durably unless ``durable=False``)."""
        ...

    def write_json_atomic(self, name: str, obj: Any) -> None:
        """Write ``obj`` as strict JSON to ``name`` atomically and durably."""
        ...

    def write_json_new(self, name: str, obj: Any) -> bool:
        """Create ``name`` holding ``obj`` only if absent; whether this call created it."""
        ...

    def replace_json(self, name: str, obj: Any, *, version: str | None) -> str:
        """Write ``obj`` to ``name`` only if ``name`` is still at ``version`` (``None``: absent).

        Returns the new version. Raises FileExistsError when ``name`` changed since ``version``
        was read: another writer came in between (compare-and-swap on an object store).
        """
        ...

    def read_json_version(self, name: str) -> tuple[Any, str]:
        """The strict JSON value in ``name`` and its version, for :meth:`replace_json`."""
        ...

    def append_line(self, name: str, line: bytes) -> None:
        """Append one whole line to ``name`` (under a lock)."""
        ...

    # reading
    def read_bytes(self, name: str) -> bytes:
        """The bytes of ``name``; FileNotFoundError when absent."""
        ...

    def read_range(self, name: str, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes of ``name`` from ``offset``; FileNotFoundError when absent."""
        ...

    def read_all(self, subdir: str, suffix: str) -> dict[str, bytes]:
        """The bytes of every file in ``subdir`` whose name ends with ``suffix``."""
        ...

    def read_json(self, name: str) -> Any:
        """The strict JSON value in ``name``; FileNotFoundError, or ValueError if not JSON."""
        ...

    def map(self, name: str) -> pa.Buffer:
        """The whole of ``name`` as a read-only pyarrow buffer."""
        ...

    def root_exists(self) -> bool:
        """Whether anything was ever written."""
        ...

    def exists(self, name: str) -> bool:
        """Whether ``name`` exists."""
        ...

    def size(self, name: str) -> int:
        """The size of ``name`` in bytes; FileNotFoundError when absent."""
        ...

    def names(self, subdir: str | None = None) -> list[str]:
        """The names directly under the root (or ``subdir``)."""
        ...

    def names_starting(self, prefix: str) -> list[str]:
        """The names directly under the root that start with ``prefix``, sorted (one listing of
        one prefix on an object store)."""
        ...

    def age_seconds(self, name: str) -> float:
        """Seconds since ``name`` was last written; FileNotFoundError when absent."""
        ...

    # removing
    def remove(self, name: str) -> bool:
        """Remove ``name``; whether this call removed it."""
        ...

    def leftovers(self, *, older_than: float, subdir: str | None = None) -> list[str]:
        """Temporary objects of interrupted writes older than ``older_than`` seconds."""
        ...

    def remove_raw(self, name: str) -> bool:
        """Remove a leftover found by :meth:`leftovers`."""
        ...

    def age_seconds_raw(self, name: str) -> float:
        """Like :meth:`age_seconds` for a leftover found by :meth:`leftovers`."""
        ...

    # locking
    def lock(self, name: str, *, timeout: float) -> contextlib.AbstractContextManager[None]:
        """Hold the lock ``name`` for a block; LockTimeoutError after ``timeout`` seconds."""
        ...

    def try_lock(self, name: str) -> Held | None:
        """Take the lock ``name`` without waiting and keep it, or ``None`` if it is held."""
        ...

    def hold_lease(self, directory: str) -> str:
        """Create a lease in ``directory``, held until this process ends; return its name."""
        ...

    def expired_leases(self, directory: str) -> list[tuple[str, float]]:
        """Leases whose holder died, with the seconds since that was noticed."""
        ...
