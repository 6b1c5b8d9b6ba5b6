"""The registry: an index of the checkpoints in a directory, cheap to append to at any size.

On disk it is two files guarded by one lock file (``checkpoint_metadata.json.lock``):

* ``checkpoint_metadata.json`` — the snapshot, always replaced atomically:
  ``{"format_version": 1, "checkpoints": {checkpoint_id: entry}}``;
* ``checkpoint_metadata.journal`` — one JSON line per change since the snapshot,
  ``{"op": "add", "entry": {...}}`` or ``{"op": "delete", "checkpoint_id": "..."}``, each appended
  with a single ``O_APPEND`` write under the lock.

A save appends one line, so its cost does not depend on how many checkpoints exist; once the
journal passes :data:`COMPACT_BYTES` the next writer folds it into the snapshot under the lock.
Readers merge snapshot and journal under the lock. The registry is only an index: the manifests
are the source of truth, and a missing or corrupt snapshot, or an unreadable journal line (a
writer killed mid-append, a damaged disk), makes the next reader rebuild it from them (a WARNING
is logged).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from checkpointing.storage._local import LocalStorage

__all__: list[str] = []

SNAPSHOT = "checkpoint_metadata.json"
JOURNAL = "checkpoint_metadata.journal"
LOCK = "checkpoint_metadata.json.lock"
REGISTRY_FILES = frozenset({SNAPSHOT, JOURNAL, LOCK})
COMPACT_BYTES = 1 << 20
FORMAT_VERSION = 1
ENTRY_FIELDS = (
    "checkpoint_id",
    "pipeline_id",
    "stage",
    "timestamp",
    "rows",
    "data_hash",
    "data_size",
    "data_file",
)

logger = logging.getLogger(__name__)

Entries = dict[str, dict[str, Any]]


def entry_from_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """The registry entry (a subset of the manifest) of one checkpoint."""
    return {key: manifest.get(key) for key in ENTRY_FIELDS}


class Registry:
    """Process- and thread-safe index of checkpoints over a :class:`LocalStorage`.

    Args:
        storage: Where the files live.
        lock_timeout: Seconds to wait for the lock before raising ``LockTimeoutError``.
        scan_manifests: Returns every manifest in the directory (used to rebuild).
    """

    def __init__(
        self,
        storage: LocalStorage,
        *,
        lock_timeout: float,
        scan_manifests: Callable[[], Iterable[dict[str, Any]]],
    ) -> None:
        self._storage = storage
        self._lock_timeout = lock_timeout
        self._scan = scan_manifests

    def _locked(self) -> Any:
        return self._storage.lock(LOCK, timeout=self._lock_timeout)

    # -- writing -----------------------------------------------------------------------------

    def add(self, entry: dict[str, Any], *, present: Callable[[], bool] | None = None) -> None:
        """Record ``entry`` (idempotent: adding an id again replaces its entry).

        ``present`` is checked under the lock and the entry is skipped if it returns False.
        Deleters remove the manifest before they take the lock to record the deletion, so an
        entry added after this check can never outlive its manifest.
        """
        self._append([{"op": "add", "entry": entry}], present=present)

    def delete(self, checkpoint_ids: Iterable[str]) -> None:
        """Forget ``checkpoint_ids`` (idempotent)."""
        self._append([{"op": "delete", "checkpoint_id": cid} for cid in checkpoint_ids])

    def _append(
        self, records: list[dict[str, Any]], *, present: Callable[[], bool] | None = None
    ) -> None:
        if not records:
            return
        data = "".join(json.dumps(r, allow_nan=False) + "\n" for r in records).encode("utf-8")
        with self._locked():
            if present is not None and not present():
                return
            if not self._storage.exists(SNAPSHOT):
                self._rebuild_locked(warn=self._storage.exists(JOURNAL))
            self._storage.append_line(JOURNAL, data)
            try:
                journal_size = self._storage.size(JOURNAL)
            except FileNotFoundError:
                journal_size = 0
            if journal_size > COMPACT_BYTES:
                self._compact_locked()

    def compact(self) -> None:
        """Fold the journal into the snapshot now."""
        with self._locked():
            self._compact_locked()

    def _compact_locked(self) -> None:
        entries = self._read_locked()
        self._write_snapshot(entries)

    def _write_snapshot(self, entries: Entries) -> None:
        self._storage.write_json_atomic(
            SNAPSHOT, {"format_version": FORMAT_VERSION, "checkpoints": entries}
        )
        # A crash before this only replays idempotent records over the new snapshot. Replaced,
        # not truncated in place, so a symlink planted at the journal's name is never followed.
        if self._storage.exists(JOURNAL) or self._storage.path(JOURNAL).is_symlink():
            self._storage.write_bytes_atomic(JOURNAL, b"")

    def rebuild(self) -> int:
        """Rebuild the snapshot from the manifests and empty the journal; return the count."""
        with self._locked():
            return len(self._rebuild_locked(warn=False))

    def _rebuild_locked(self, *, warn: bool) -> Entries:
        entries = {m["checkpoint_id"]: entry_from_manifest(m) for m in self._scan()}
        if warn:
            logger.warning(
                "checkpoint registry %s was missing or corrupt; rebuilt it from %d manifest(s)",
                self._storage.path(SNAPSHOT),
                len(entries),
            )
        self._write_snapshot(entries)
        return entries

    # -- reading -----------------------------------------------------------------------------

    def entries(self) -> Entries:
        """Every registered checkpoint, ``{checkpoint_id: entry}``."""
        if not self._storage.root_exists():
            return {}  # reading never creates the directory
        with self._locked():
            return self._read_locked()

    def _read_locked(self) -> Entries:
        try:
            snapshot = self._storage.read_json(SNAPSHOT)
            entries: Entries = dict(snapshot["checkpoints"])
            if snapshot.get("format_version") != FORMAT_VERSION:
                raise ValueError(f"unknown format_version {snapshot.get('format_version')!r}")
        except FileNotFoundError:
            if not self._storage.exists(JOURNAL) and not any(True for _ in self._scan()):
                return {}
            return self._rebuild_locked(warn=True)
        except (ValueError, KeyError, TypeError):
            return self._rebuild_locked(warn=True)
        try:
            journal = self._storage.read_bytes(JOURNAL)
        except FileNotFoundError:
            return entries
        for line in journal.splitlines():
            try:
                record = json.loads(line)
                if record["op"] == "add":
                    entries[record["entry"]["checkpoint_id"]] = record["entry"]
                elif record["op"] == "delete":
                    entries.pop(record["checkpoint_id"], None)
            except (ValueError, KeyError, TypeError):
                # A line torn by a killed writer or damaged on disk: the entry it held would
                # silently vanish; the manifests still hold the truth, so rebuild from them.
                return self._rebuild_locked(warn=True)
        return entries
