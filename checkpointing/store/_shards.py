"""The registry's files: shards and index as JSON lines, parsed, written and rebuilt.

:class:`ShardFiles` does the file work of :class:`checkpointing.store._registry.Registry`, which
says what the files mean. Every line is compact strict JSON; a file's first line is its header;
a last line without its newline is not part of the file yet (being appended, or cut by a killed
writer). Methods ending in ``_locked`` run under the registry lock.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, cast

from checkpointing.store._layout import LEGACY_FILES, LOCK, REGISTRY_DIR, write_marker

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from checkpointing.storage._protocol import Storage

__all__: list[str] = []

logger = logging.getLogger("checkpointing.store._registry")

_SETTLE = 0.05  # a line being appended is complete long before this; one still cut was torn

INDEX = f"{REGISTRY_DIR}/index.jsonl"
SHARDS = f"{REGISTRY_DIR}/pipelines"
FORMAT_VERSION = 2
INDEX_SLACK = 64 * 1024
HEAD_BYTES = 4096  # the header line is always shorter
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

Entries = dict[str, dict[str, Any]]


class DamagedError(Exception):
    """A shard or the index does not read as it was written."""


def entry_from_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """The registry entry (a subset of the manifest) of one checkpoint."""
    return {key: manifest.get(key) for key in ENTRY_FIELDS}


def shard_name(pipeline_id: str) -> str:
    """The shard of ``pipeline_id``, relative to the store."""
    return f"{SHARDS}/{pipeline_id}.jsonl"


def line(obj: dict[str, Any]) -> bytes:
    """``obj`` as one compact, strict JSON line."""
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.encode("utf-8") + b"\n"


def order(entry: dict[str, Any]) -> tuple[str, str]:
    """Sort key of entries: by time, then id."""
    return (entry["timestamp"], entry["checkpoint_id"])


def complete_lines(data: bytes) -> list[dict[str, Any]]:
    """The complete lines of ``data``; a last line without its newline is not complete yet."""
    end = data.rfind(b"\n")
    if end < 0:
        raise DamagedError("no complete header line")
    try:
        records = json.loads(b"[" + data[:end].replace(b"\n", b",") + b"]")
    except ValueError:
        raise DamagedError("a line is not JSON") from None
    if not all(isinstance(r, dict) for r in records):
        raise DamagedError("a line is not a JSON object")
    return cast("list[dict[str, Any]]", records)


def parse_shard(data: bytes, pipeline_id: str) -> tuple[dict[str, Any], Entries]:
    """The header and the entries of a shard; DamagedError if it does not read as written."""
    records = complete_lines(data)
    header = records[0]
    if (
        header.get("op") != "shard"
        or header.get("format_version") != FORMAT_VERSION
        or header.get("pipeline_id") != pipeline_id
        or not isinstance(header.get("oldest"), str)
        or not isinstance(header.get("base"), int)
    ):
        raise DamagedError("bad header")
    entries: Entries = {}
    for record in records[1:]:
        op, entry = record.get("op"), record.get("entry")
        if op == "add" and isinstance(entry, dict):
            if entry.get("pipeline_id") != pipeline_id or not isinstance(
                entry.get("timestamp"), str
            ):
                raise DamagedError("an entry of another pipeline or without a timestamp")
            entries[str(entry["checkpoint_id"])] = entry
        elif op == "delete" and isinstance(record.get("checkpoint_id"), str):
            entries.pop(record["checkpoint_id"], None)
        else:
            raise DamagedError(f"unknown record {record!r}")
    return header, entries


def parse_index(data: bytes) -> tuple[dict[str, Any], dict[str, str]]:
    """The header and ``{pipeline_id: oldest bound}`` of the index; DamagedError if damaged."""
    records = complete_lines(data)
    header = records[0]
    if header.get("op") != "index" or header.get("format_version") != FORMAT_VERSION:
        raise DamagedError("bad header")
    bounds: dict[str, str] = {}
    for record in records[1:]:
        op, pipeline_id, oldest = record.get("op"), record.get("pipeline_id"), record.get("oldest")
        if not isinstance(pipeline_id, str):
            raise DamagedError(f"unknown record {record!r}")
        if op == "drop":
            bounds.pop(pipeline_id, None)
        elif op in ("add", "set") and isinstance(oldest, str):
            if op == "add" and pipeline_id in bounds:
                oldest = min(oldest, bounds[pipeline_id])
            bounds[pipeline_id] = oldest
        else:
            raise DamagedError(f"unknown record {record!r}")
    return header, bounds


def bounds_of(entries: Entries) -> dict[str, str]:
    """``{pipeline_id: timestamp of its oldest entry}``."""
    bounds: dict[str, str] = {}
    for entry in entries.values():
        pipeline_id, stamp = entry["pipeline_id"], entry["timestamp"]
        bounds[pipeline_id] = min(stamp, bounds.get(pipeline_id, stamp))
    return bounds


class ShardFiles:
    """The registry's file operations (see :class:`~checkpointing.store._registry.Registry`)."""

    def __init__(
        self,
        storage: Storage,
        *,
        lock_timeout: float,
        scan_manifests: Callable[[str | None], Iterable[dict[str, Any]]],
    ) -> None:
        self._storage = storage
        self._lock_timeout = lock_timeout
        self._scan = scan_manifests
        self._holding = threading.local()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the registry lock; re-entered by the same thread (a repair inside a write)."""
        if getattr(self._holding, "held", False):
            yield
            return
        with self._storage.lock(LOCK, timeout=self._lock_timeout):
            self._holding.held = True
            try:
                yield
            finally:
                self._holding.held = False

    def _read_settled(self, name: str) -> bytes:
        """The file ``name`` once its last line is whole (DamagedError if it stays cut short).

        A line is appended with one ``write``, so a reader catches it half-written only for an
        instant; a last line still cut after a pause was cut by a killed writer or damage.
        """
        data = self._storage.read_bytes(name)
        if not data.endswith(b"\n"):
            time.sleep(_SETTLE)
            data = self._storage.read_bytes(name)
            if not data.endswith(b"\n"):
                raise DamagedError("the last line is cut short")
        return data

    def _read_locked(self, name: str) -> bytes:
        """The file ``name`` read under the lock: nobody is appending, so a cut line is damage."""
        data = self._storage.read_bytes(name)
        if not data.endswith(b"\n"):
            raise DamagedError("the last line is cut short")
        return data

    def shard_pipelines(self) -> set[str]:
        """The pipelines that have a shard."""
        return {n[: -len(".jsonl")] for n in self._storage.names(SHARDS) if n.endswith(".jsonl")}

    # -- under the lock ----------------------------------------------------------------------

    def _intact_header_locked(self, pipeline_id: str) -> dict[str, Any] | None:
        """The shard's header if the shard exists, reads and ends with a whole line."""
        name = shard_name(pipeline_id)
        try:
            size = self._storage.size(name)
            head = self._storage.read_range(name, 0, HEAD_BYTES)
            tail = head[-1:] if size <= HEAD_BYTES else self._storage.read_range(name, size - 1, 1)
        except FileNotFoundError:
            return None
        if tail != b"\n":
            return None  # cut short by a killed writer: rebuild before appending
        try:
            return parse_shard(head[: head.index(b"\n") + 1], pipeline_id)[0]
        except (ValueError, DamagedError):
            return None

    def _compact_locked(self, pipeline_id: str, *, only_if_empty: bool = False) -> None:
        try:
            entries = parse_shard(self._read_locked(shard_name(pipeline_id)), pipeline_id)[1]
        except FileNotFoundError:
            return
        except DamagedError:
            self._rebuild_pipeline_locked(pipeline_id)
            return
        if not entries:
            self._write_shard_locked(pipeline_id, {})
            self._index_append_locked({"op": "drop", "pipeline_id": pipeline_id})
        elif not only_if_empty:
            self._write_shard_locked(pipeline_id, entries)
            oldest = min(e["timestamp"] for e in entries.values())
            self._index_append_locked({"op": "set", "pipeline_id": pipeline_id, "oldest": oldest})

    def _write_shard_locked(self, pipeline_id: str, entries: Entries) -> None:
        """Replace the shard by ``entries`` (sorted by time), or remove it when there are none."""
        name = shard_name(pipeline_id)
        if not entries:
            self._storage.remove(name)
            return
        ordered = sorted(entries.values(), key=order)
        body = b"".join(line({"op": "add", "entry": e}) for e in ordered)
        header = {
            "op": "shard",
            "format_version": FORMAT_VERSION,
            "pipeline_id": pipeline_id,
            "oldest": ordered[0]["timestamp"],
            "base": len(body),
        }
        # Not fsync'd: the registry only indexes durable manifests, and what a power cut could
        # undo (an empty or an older shard) is read as damage or repaired by the next sweep.
        self._storage.write_bytes_atomic(name, line(header) + body, durable=False)

    def _index_append_locked(self, record: dict[str, Any]) -> None:
        try:
            size = self._storage.size(INDEX)
            head = self._storage.read_range(INDEX, 0, HEAD_BYTES)
            header = parse_index(head[: head.index(b"\n") + 1])[0]
            tail = head[-1:] if size <= HEAD_BYTES else self._storage.read_range(INDEX, size - 1, 1)
            torn = tail != b"\n"
        except (FileNotFoundError, ValueError, DamagedError):
            self._rebuild_all_locked(warn=True)
            return
        if torn:  # a killed writer's line: its operation never went further, drop it
            self._write_index_locked(parse_index(self._storage.read_bytes(INDEX))[1])
        self._storage.append_line(INDEX, line(record))
        if size > 2 * int(header.get("base", 0)) + INDEX_SLACK:
            self._write_index_locked(parse_index(self._storage.read_bytes(INDEX))[1])

    def _write_index_locked(self, bounds: dict[str, str]) -> None:
        body = b"".join(
            line({"op": "set", "pipeline_id": p, "oldest": bounds[p]}) for p in sorted(bounds)
        )
        header = {"op": "index", "format_version": FORMAT_VERSION, "base": len(body)}
        self._storage.write_bytes_atomic(INDEX, line(header) + body, durable=False)

    def _rebuild_pipeline_locked(self, pipeline_id: str) -> Entries:
        entries = {
            m["checkpoint_id"]: entry_from_manifest(m)
            for m in self._scan(f"{pipeline_id}_")
            if m["pipeline_id"] == pipeline_id
        }
        logger.warning(
            "checkpoint registry %s was missing or corrupt; rebuilt it from %d manifest(s)",
            self._storage.path(shard_name(pipeline_id)),
            len(entries),
        )
        self._write_shard_locked(pipeline_id, entries)
        if entries:
            oldest = min(e["timestamp"] for e in entries.values())
            self._index_append_locked({"op": "add", "pipeline_id": pipeline_id, "oldest": oldest})
        else:
            self._index_append_locked({"op": "drop", "pipeline_id": pipeline_id})
        return entries

    def _rebuild_all_locked(self, *, warn: bool) -> Entries:
        entries = {m["checkpoint_id"]: entry_from_manifest(m) for m in self._scan(None)}
        grouped: dict[str, Entries] = {}
        for checkpoint_id, entry in entries.items():
            grouped.setdefault(entry["pipeline_id"], {})[checkpoint_id] = entry
        existing = self.shard_pipelines()
        if any(self._storage.exists(n) for n in LEGACY_FILES):
            logger.info(
                "migrated the checkpoint registry of %s to one shard per pipeline",
                self._storage.location,
            )
        elif warn and (existing or entries):
            logger.warning(
                "checkpoint registry %s was missing or corrupt; rebuilt it from %d manifest(s)",
                self._storage.path(REGISTRY_DIR),
                len(entries),
            )
        for pipeline_id, group in grouped.items():
            if self._shard_holds(pipeline_id, group):
                continue
            self._write_shard_locked(pipeline_id, group)
        for pipeline_id in existing - set(grouped):
            self._write_shard_locked(pipeline_id, {})
        self._write_index_locked(bounds_of(entries))
        for name in LEGACY_FILES:  # the single-file registry of earlier versions
            self._storage.remove(name)
        write_marker(self._storage)
        return entries

    def _shard_holds(self, pipeline_id: str, entries: Entries) -> bool:
        try:
            data = self._storage.read_bytes(shard_name(pipeline_id))
            header, found = parse_shard(data, pipeline_id)
        except (FileNotFoundError, DamagedError):
            return False
        oldest = min(e["timestamp"] for e in entries.values())
        return found == entries and header["oldest"] == oldest and data.endswith(b"\n")
