"""The registry: a per-pipeline index of the checkpoints in a directory, read without a lock.

On disk, under ``registry/`` (writers hold ``checkpoint_metadata.json.lock`` in the store):

* ``pipelines/<pipeline_id>.jsonl`` — one shard per pipeline: a header line
  ``{"op": "shard", "pipeline_id", "oldest", "base"}`` then one JSON line per change,
  ``{"op": "add", "entry": {...}}`` or ``{"op": "delete", "checkpoint_id": "..."}``;
* ``index.jsonl`` — which pipelines have a shard, each with a lower bound of its checkpoints'
  timestamps (``{"op": "add" | "set" | "drop", "pipeline_id", "oldest"}``), so retention finds
  what may have expired without opening every shard.

A save appends one line to its pipeline's shard (and one to the index for a new pipeline), so
it costs the same at any size; the common reads (latest, list, progress of one pipeline) open
one small file. A shard or the index is created whole and compacted by an atomic replace once it
has doubled, and a line is appended with a single ``write``: a reader takes no lock and sees a
file before or after each change. A last line still without its newline after a short pause
was cut by a killed writer. Reading never needs write access.

The registry is only an index: the manifests are the source of truth. A writer that finds a
shard's last line cut rebuilds that shard from the manifests before it appends; a shard or index
that is damaged (a cut line included) or missing while the index lists it makes the next reader
rebuild it under the lock, or, without write access, read the manifests instead. Each is logged
as a WARNING.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from checkpointing._errors import InvalidNameError
from checkpointing.store._layout import is_marked
from checkpointing.store._manifest import MANIFEST_SUFFIX
from checkpointing.store._shards import (
    INDEX,
    SHARDS,
    DamagedError,
    Entries,
    ShardFiles,
    bounds_of,
    entry_from_manifest,
    line,
    order,
    parse_index,
    parse_shard,
    shard_name,
)

if TYPE_CHECKING:
    import contextlib
    from collections.abc import Callable, Iterable


__all__: list[str] = []

logger = logging.getLogger(__name__)

COMPACT_SLACK = 16 * 1024  # compact a shard once it is over twice its compacted size plus this
SMALL_SHARD = 64 * 1024  # a shard this small is re-read after a delete, to drop it once empty
_STAT_EACH = 64  # above this many entries, one directory listing beats a stat per manifest


class Registry(ShardFiles):
    """Process- and thread-safe index of checkpoints in an appendable storage (a directory).

    Args:
        storage: Where the files live.
        lock_timeout: Seconds a writer waits for the lock before ``LockTimeoutError``.
        scan_manifests: Yields every manifest whose file name starts with the given prefix
            (``None``: every manifest), to rebuild from.
    """

    # -- reading (no lock) -------------------------------------------------------------------

    def listed(
        self,
        pipeline_id: str | None,
        stage: str | None,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[dict[str, Any]]:
        """The entries of one pipeline (or all) and stage whose manifest exists, unordered.

        With ``pipeline_id``, only that pipeline's shard is read. A checkpoint whose manifest is
        gone (a delete interrupted between the manifest and the registry) is left out.
        ``progress`` is passed to :meth:`all_entries`.
        """
        if pipeline_id is None:
            entries = self.all_entries(progress=progress)
        else:
            entries = self.pipeline_entries(pipeline_id)
        found = [e for e in entries.values() if stage is None or e.get("stage") == stage]
        if len(found) <= _STAT_EACH:
            exists = self._storage.exists
            return [e for e in found if exists(e["checkpoint_id"] + MANIFEST_SUFFIX)]
        on_disk = set(self._storage.names())
        return [e for e in found if e["checkpoint_id"] + MANIFEST_SUFFIX in on_disk]

    def latest(self, pipeline_id: str, stage: str | None) -> str | None:
        """The newest checkpoint of a pipeline (and stage) whose manifest exists: one shard read
        and, usually, one stat."""
        entries = [
            e
            for e in self.pipeline_entries(pipeline_id).values()
            if stage is None or e.get("stage") == stage
        ]
        while entries:
            newest = max(entries, key=order)
            if self._storage.exists(newest["checkpoint_id"] + MANIFEST_SUFFIX):
                return str(newest["checkpoint_id"])
            entries.remove(newest)
        return None

    def pipeline_entries(self, pipeline_id: str) -> Entries:
        """The registered checkpoints of one pipeline, reading only its shard."""
        if not self._storage.root_exists():
            return {}  # reading never creates the directory
        try:
            return parse_shard(self._read_settled(shard_name(pipeline_id)), pipeline_id)[1]
        except InvalidNameError:
            return {}  # no checkpoint can have this pipeline id
        except FileNotFoundError:
            return self._without_shard(pipeline_id)
        except DamagedError:
            return self._repair(pipeline_id)

    def _without_shard(self, pipeline_id: str) -> Entries:
        try:
            data = self._storage.read_bytes(INDEX)
        except FileNotFoundError:
            return {c: e for c, e in self._repair(None).items() if e["pipeline_id"] == pipeline_id}
        if line({"pipeline_id": pipeline_id})[1:-2] not in data:
            return {}  # not listed (the usual case: no checkpoint yet), known without parsing
        # Listed without a shard: created or dropped under the lock right now, or deleted.
        if pipeline_id not in self._index_bounds():
            return {}
        return self._repair(pipeline_id)

    def pipelines(self) -> dict[str, str]:
        """``{pipeline_id: lower bound of its checkpoints' timestamps}`` from the index."""
        if not self._storage.root_exists():
            return {}
        return self._index_bounds()

    def _index_bounds(self) -> dict[str, str]:
        try:
            return parse_index(self._read_settled(INDEX))[1]
        except (FileNotFoundError, DamagedError):
            return bounds_of(self._repair(None))

    def all_entries(self, *, progress: Callable[[int, int], None] | None = None) -> Entries:
        """Every registered checkpoint: the index, then all shards read in one sweep, calling
        ``progress(done, total)`` shard by shard."""
        if not self._storage.root_exists():
            return {}
        try:
            listed = set(parse_index(self._read_settled(INDEX))[1])
        except (FileNotFoundError, DamagedError):
            return self._repair(None)
        entries: Entries = {}
        shards = self._storage.read_all(SHARDS, ".jsonl")
        for done, (name, data) in enumerate(shards.items()):
            if progress is not None:
                progress(done, len(shards))
            pipeline_id = name[: -len(".jsonl")]
            listed.discard(pipeline_id)
            try:
                entries.update(parse_shard(data, pipeline_id)[1])
            except DamagedError:  # cut short (maybe being appended) or damaged: the careful way
                entries.update(self.pipeline_entries(pipeline_id))
        for pipeline_id in listed:  # listed but no shard: being created or removed, or lost
            entries.update(self.pipeline_entries(pipeline_id))
        return entries

    def owner_of(self, checkpoint_id: str) -> str | None:
        """The pipeline whose shard lists ``checkpoint_id`` (for a manifest that is unreadable).

        An id is ``<pipeline_id>_<stage>_<time>_<hex>``, so only the prefixes ending before an
        underscore are candidates.
        """
        parts = checkpoint_id.split("_")
        for end in range(len(parts) - 3, 0, -1):
            candidate = "_".join(parts[:end])
            if checkpoint_id in self.pipeline_entries(candidate):
                return candidate
        return None

    def unindexed_pipelines(self) -> list[str]:
        """Pipelines with a shard that the index does not list."""
        bounds = self.pipelines()
        return sorted(self.shard_pipelines() - set(bounds))

    # -- repair ------------------------------------------------------------------------------

    def _repair(self, pipeline_id: str | None) -> Entries:
        """Rebuild a damaged or missing shard (or everything) from the manifests and return it.

        Without write access (or when the lock cannot be had) the manifests are read instead,
        and nothing is written; an unmarked directory is only ever read.
        """
        if is_marked(self._storage):
            try:
                with self._locked():
                    if pipeline_id is None:
                        return self._checked_all_locked()
                    return self._checked_pipeline_locked(pipeline_id)
            except OSError as exc:  # read-only directory, lock held by a stuck process
                logger.warning(
                    "checkpoint registry in %s needs a rebuild it cannot write (%s); "
                    "reading the manifests instead",
                    self._storage.location,
                    exc,
                )
        prefix = None if pipeline_id is None else f"{pipeline_id}_"
        entries = {
            m["checkpoint_id"]: entry_from_manifest(m)
            for m in self._scan(prefix)
            if pipeline_id is None or m["pipeline_id"] == pipeline_id
        }
        if entries and not is_marked(self._storage):
            logger.warning(
                "%s holds checkpoint manifests but no registry; read them instead (the next "
                "save rebuilds the registry)",
                self._storage.location,
            )
        return entries

    def _checked_pipeline_locked(self, pipeline_id: str) -> Entries:
        """Under the lock: the shard if it reads, nothing if it is (now) unlisted, or rebuild."""
        try:
            bounds = parse_index(self._read_locked(INDEX))[1]
        except (FileNotFoundError, DamagedError):
            return {
                c: e
                for c, e in self._checked_all_locked().items()
                if e["pipeline_id"] == pipeline_id
            }
        try:
            return parse_shard(self._read_locked(shard_name(pipeline_id)), pipeline_id)[1]
        except FileNotFoundError:
            if pipeline_id not in bounds:
                return {}
        except DamagedError:
            pass
        return self._rebuild_pipeline_locked(pipeline_id)

    def _checked_all_locked(self) -> Entries:
        try:
            parse_index(self._read_locked(INDEX))
        except (FileNotFoundError, DamagedError):
            return self._rebuild_all_locked(warn=True)
        return self.all_entries()

    # -- writing -----------------------------------------------------------------------------

    def prepare(self, pipeline_id: str) -> None:
        """Before a checkpoint of ``pipeline_id`` is committed: nothing to do here (the entry is
        appended after the commit, by :meth:`add`)."""
        del pipeline_id

    def locked(self) -> contextlib.AbstractContextManager[None]:
        """Hold the registry lock for a block (re-entrant in one thread). Removing a manifest
        and replacing one (a compaction) happen under it, so neither undoes the other."""
        return self._locked()

    def add(self, entry: dict[str, Any], *, present: Callable[[], bool] | None = None) -> None:
        """Record ``entry`` (idempotent: adding an id again replaces its entry).

        ``present`` is checked under the lock and the entry is skipped if it returns False.
        Deleters remove the manifest before they take the lock to record the deletion, so an
        entry added after this check can never outlive its manifest.
        """
        with self._locked():
            if present is not None and not present():
                return
            if not self._storage.exists(INDEX):
                # A new store (its manifest is included), unless shards show the index was lost.
                self._rebuild_all_locked(warn=bool(self.shard_pipelines()))
                return
            pipeline_id, stamp = entry["pipeline_id"], entry["timestamp"]
            name = shard_name(pipeline_id)
            header = self._intact_header_locked(pipeline_id)
            if header is None:
                if self._storage.exists(name):
                    self._rebuild_pipeline_locked(pipeline_id)  # includes this entry
                    return
                # A new pipeline: listed first, so the index always lists every shard.
                self._index_append_locked(
                    {"op": "add", "pipeline_id": pipeline_id, "oldest": stamp}
                )
                self._write_shard_locked(pipeline_id, {entry["checkpoint_id"]: entry})
                return
            if stamp < header["oldest"]:
                self._index_append_locked(
                    {"op": "add", "pipeline_id": pipeline_id, "oldest": stamp}
                )
            self._storage.append_line(name, line({"op": "add", "entry": entry}))
            if self._storage.size(name) > 2 * header["base"] + COMPACT_SLACK:
                self._compact_locked(pipeline_id)

    def delete(self, checkpoints: Iterable[tuple[str, str]], *, settle: bool = False) -> None:
        """Forget ``(pipeline_id, checkpoint_id)`` pairs (idempotent).

        A shard left empty is removed. ``settle`` compacts each shard touched, so the index's
        bound of its oldest checkpoint is exact again (retention calls it once per pipeline).
        """
        grouped: dict[str, list[str]] = {}
        for pipeline_id, checkpoint_id in checkpoints:
            grouped.setdefault(pipeline_id, []).append(checkpoint_id)
        if not grouped:
            return
        with self._locked():
            if not self._storage.exists(INDEX):
                self._rebuild_all_locked(warn=True)  # the manifests are already gone
                return
            for pipeline_id, ids in grouped.items():
                header = self._intact_header_locked(pipeline_id)
                name = shard_name(pipeline_id)
                if header is None:
                    if self._storage.exists(name):
                        self._rebuild_pipeline_locked(pipeline_id)
                    continue
                lines = b"".join(line({"op": "delete", "checkpoint_id": c}) for c in ids)
                self._storage.append_line(name, lines)
                size = self._storage.size(name)
                if settle or size <= SMALL_SHARD or size > 2 * header["base"] + COMPACT_SLACK:
                    self._compact_locked(
                        pipeline_id, only_if_empty=not settle and size <= SMALL_SHARD
                    )

    def settle(self, pipeline_id: str, bound: str) -> None:
        """Make the index's bound for ``pipeline_id`` exact if it is below the oldest entry."""
        with self._locked():
            try:
                header, entries = parse_shard(
                    self._read_locked(shard_name(pipeline_id)), pipeline_id
                )
            except (FileNotFoundError, DamagedError):
                return
            oldest = min((e["timestamp"] for e in entries.values()), default=None)
            if oldest is None or oldest > header["oldest"]:
                self._compact_locked(pipeline_id)
            elif oldest != bound:
                self._index_append_locked(
                    {"op": "set", "pipeline_id": pipeline_id, "oldest": oldest}
                )

    def index_unlisted(self) -> int:
        """List in the index every shard it misses (a damaged index); return how many."""
        with self._locked():
            missing = self.unindexed_pipelines()
            for pipeline_id in missing:
                self._compact_locked(pipeline_id)
            return len(missing)

    def rebuild(self) -> int:
        """Rebuild every shard and the index from the manifests; return the number of entries."""
        with self._locked():
            return len(self._rebuild_all_locked(warn=False))
