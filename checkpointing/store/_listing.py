"""The registry of a store without append and file locks (an object store): its manifests.

A checkpoint exists exactly when its manifest ``<checkpoint_id>.json`` exists, and ids start
with their pipeline id, so the checkpoints of a pipeline are the manifests whose names start
with ``<pipeline_id>_``: one LIST of one short prefix. Stage and time are read from the id
itself (``<pipeline_id>_<stage>_<YYYYmmddTHHMMSSffffffZ>_<8 hex>``), so the latest checkpoint of
a pipeline costs that LIST and nothing else, unless the stage part of the newest name holds an
underscore: then the name might belong to a longer pipeline id (``etl`` and ``etl_eu``), and the
manifest is read (once per process: a manifest's pipeline never changes). Listing with details
(rows, size, hash) reads each manifest, in parallel.

The pipelines of the store are remembered by one empty marker object per pipeline,
``registry/listed/<pipeline_id>``, created (if absent) before the first checkpoint of that
pipeline is committed, so a committed checkpoint's pipeline is always listed. Nothing here is
ever appended or locked, and there is nothing to repair: deleting a manifest is deleting the
entry.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import re
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from checkpointing._errors import CheckpointNotFoundError, IntegrityError, InvalidNameError
from checkpointing.storage._names import validate_name
from checkpointing.store._layout import CHECKPOINT_FILE, REGISTRY_DIR
from checkpointing.store._manifest import MANIFEST_SUFFIX
from checkpointing.store._shards import Entries, entry_from_manifest, order

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from checkpointing.storage._protocol import Storage

__all__: list[str] = []

MARKERS = f"{REGISTRY_DIR}/listed"
_REST = re.compile(r"(?P<stage>.+)_(?P<ts>\d{8}T\d{12}Z)_[0-9a-f]{8}\.json")
_TAIL = re.compile(r"(?P<ts>\d{8}T\d{12}Z)_[0-9a-f]{8}\.json")
_READERS = 16  # manifests read at once when listing with details


class ListingRegistry:
    """The registry interface of :class:`~checkpointing.store._registry.Registry`, by listing.

    Args:
        storage: The store's storage (not appendable).
        read_manifest: Reads one checkpoint's manifest (``CheckpointManager.get_state``).
    """

    def __init__(self, storage: Storage, *, read_manifest: Callable[[str], dict[str, Any]]) -> None:
        self._storage = storage
        self._read = read_manifest
        self._owners: dict[str, str] = {}  # checkpoint id -> pipeline id, read from manifests
        self._marked: set[str] = set()
        self._lock = threading.Lock()

    # -- reading -----------------------------------------------------------------------------

    def pipeline_entries(self, pipeline_id: str, stage: str | None = None) -> Entries:
        """The checkpoints of one pipeline (and stage): id, pipeline, stage and timestamp."""
        return {
            c: e
            for c, e in self._candidates(pipeline_id, stage).items()
            if self._owned(e, pipeline_id, stage)
        }

    def _candidates(self, pipeline_id: str, stage: str | None) -> Entries:
        """The entries named like ``pipeline_id``'s (a longer pipeline id's may be among them)."""
        try:
            validate_name(pipeline_id, what="pipeline_id")
            if stage is not None:
                validate_name(stage, what="stage")
        except InvalidNameError:
            return {}
        prefix = f"{pipeline_id}_" if stage is None else f"{pipeline_id}_{stage}_"
        entries: Entries = {}
        for name in self._storage.names_starting(prefix):
            rest = name[len(prefix) :]
            found = _REST.fullmatch(rest) if stage is None else _TAIL.fullmatch(rest)
            if found is None:
                continue
            checkpoint_id = name[: -len(MANIFEST_SUFFIX)]
            entries[checkpoint_id] = {
                "checkpoint_id": checkpoint_id,
                "pipeline_id": pipeline_id,
                "stage": stage if stage is not None else found["stage"],
                "timestamp": _iso(found["ts"]),
            }
        return entries

    def _owned(self, entry: dict[str, Any], pipeline_id: str, stage: str | None) -> bool:
        """Whether ``entry`` (listed under ``pipeline_id``'s prefix) is that pipeline's."""
        if stage is not None or "_" not in entry["stage"]:
            return True  # no longer pipeline id can produce this name
        return self.owner_of(entry["checkpoint_id"]) == pipeline_id

    def listed(
        self,
        pipeline_id: str | None,
        stage: str | None,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Registry entries (with rows, size and hash, from the manifests), unordered;
        ``progress(done, total)`` is called as manifests are read."""
        if pipeline_id is None:
            ids = self._manifest_ids()
        else:
            ids = list(self._candidates(pipeline_id, stage))
        return [
            entry_from_manifest(m)
            for m in self._manifests(ids, progress=progress)
            if (pipeline_id is None or m["pipeline_id"] == pipeline_id)
            and (stage is None or m["stage"] == stage)
        ]

    def latest(self, pipeline_id: str, stage: str | None) -> str | None:
        """The newest checkpoint of a pipeline (and stage): one LIST of its prefix."""
        entries = sorted(self._candidates(pipeline_id, stage).values(), key=order)
        for entry in reversed(entries):
            if self._owned(entry, pipeline_id, stage):
                return str(entry["checkpoint_id"])
        return None

    def _manifest_ids(self) -> list[str]:
        """The ids of every manifest in the store (one listing)."""
        return [
            n[: -len(MANIFEST_SUFFIX)]
            for n in self._storage.names()
            if (f := CHECKPOINT_FILE.fullmatch(n)) is not None and f["kind"] == "json"
        ]

    def all_entries(self, *, progress: Callable[[int, int], None] | None = None) -> Entries:
        """Every checkpoint of the store (reads every manifest)."""
        return {e["checkpoint_id"]: e for e in self.listed(None, None, progress=progress)}

    def owner_of(self, checkpoint_id: str) -> str | None:
        """The pipeline of ``checkpoint_id``, from its manifest (``None`` if unreadable)."""
        owner = self._owners.get(checkpoint_id)
        if owner is None:
            for manifest in self._manifests([checkpoint_id]):
                owner = str(manifest["pipeline_id"])
        return owner

    def _manifests(
        self, ids: Iterable[str], *, progress: Callable[[int, int], None] | None = None
    ) -> list[dict[str, Any]]:
        """The readable manifests of ``ids``, read in parallel; unreadable ones left out."""

        def read(checkpoint_id: str) -> dict[str, Any] | None:
            try:
                manifest = self._read(checkpoint_id)
            except (CheckpointNotFoundError, IntegrityError, ValueError):
                return None
            with self._lock:
                self._owners[checkpoint_id] = str(manifest["pipeline_id"])
            return manifest

        ids = list(ids)
        if len(ids) <= 1:
            results = [read(i) for i in ids]
        else:
            with concurrent.futures.ThreadPoolExecutor(min(_READERS, len(ids))) as pool:
                results = []
                for done, result in enumerate(pool.map(read, ids)):
                    if progress is not None:
                        progress(done, len(ids))
                    results.append(result)
        return [m for m in results if m is not None]

    def shard_pipelines(self) -> set[str]:
        """The pipelines that ever committed a checkpoint here (their markers)."""
        return set(self._storage.names(MARKERS))

    def pipelines(self) -> dict[str, str]:
        """Every pipeline with the lower bound ``""``: no index of oldest times is kept."""
        return dict.fromkeys(self.shard_pipelines(), "")

    def unindexed_pipelines(self) -> list[str]:
        """None: markers are created before the commit (see :meth:`prepare`)."""
        return []

    # -- writing -----------------------------------------------------------------------------

    def prepare(self, pipeline_id: str) -> None:
        """Before a checkpoint of ``pipeline_id`` is committed: make sure it has a marker."""
        if pipeline_id in self._marked:
            return
        self._storage.write_json_new(f"{MARKERS}/{pipeline_id}", {"pipeline_id": pipeline_id})
        with self._lock:
            self._marked.add(pipeline_id)

    def add(self, entry: dict[str, Any], *, present: Callable[[], bool] | None = None) -> None:
        """A committed manifest is its own entry; only its pipeline's marker is checked."""
        del present
        self.prepare(str(entry["pipeline_id"]))

    def delete(self, checkpoints: Iterable[tuple[str, str]], *, settle: bool = False) -> None:
        """Nothing to do: removing a manifest removed its entry."""
        del checkpoints, settle

    def locked(self) -> contextlib.AbstractContextManager[None]:
        """No lock: what the local registry's lock orders (a manifest removed against one
        replaced by a compaction) is ordered here by the compare-and-swap of the replace."""
        return contextlib.nullcontext()

    def settle(self, pipeline_id: str, bound: str) -> None:
        """Nothing to do: no bounds are kept."""
        del pipeline_id, bound

    def index_unlisted(self) -> int:
        """Create the markers of pipelines whose checkpoints have none; return how many.

        Only manifests this object has not read yet are read (a sweep read them all just
        before): a checkpoint's pipeline never changes.
        """
        ids = self._manifest_ids()
        self._manifests([i for i in ids if i not in self._owners])
        missing = {self._owners[i] for i in ids if i in self._owners} - self.shard_pipelines()
        for pipeline_id in missing:
            self.prepare(pipeline_id)
        return len(missing)

    def rebuild(self) -> int:
        """Re-create missing markers; return the number of checkpoints."""
        self.index_unlisted()
        return len(self.all_entries())


def _iso(stamp: str) -> str:
    """The manifest's ISO-8601 timestamp of an id's ``YYYYmmddTHHMMSSffffffZ``."""
    return datetime.strptime(stamp, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC).isoformat()
