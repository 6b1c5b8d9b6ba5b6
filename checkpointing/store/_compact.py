"""Compaction: rewrite cold checkpoints with a stronger codec, in place, crash-safe.

For each checkpoint older than the threshold (by its own timestamp), with the storage
protocol's operations only, so it works on every backend:

1. read the data object the manifest names and verify it in full (SHA-256);
2. re-encode the same Arrow table with the new codec, in memory, and check that the new bytes
   read back to an equal table (schema and metadata included) that decodes to the manifest's
   rows and columns;
3. stage the new bytes under a new data object name (``<id>.<8 hex>.parquet``) and the new
   manifest (new ``data_file``, ``data_hash``, ``data_xxh3``, size and codec; the original's
   as ``compacted_from``); commit the data object, then replace the manifest, the commit point,
   only if it is still the version read in step 1 (compare-and-swap on an object store's ETag;
   under the registry lock, which deletes take too, in a directory), so a concurrent delete or
   compaction is never undone;
4. remove the old data object.

A kill before step 3 leaves the old checkpoint (and perhaps a staged file the leftover sweep
removes); after it, the new one (and perhaps the old data object, which the sweep removes since
no manifest names it). A reader that read the old manifest just before step 4 finds its data
object gone and reads the manifest again (:meth:`CheckpointManager.load_checkpoint`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import pyarrow as pa
import pyarrow.parquet as pq

from checkpointing._errors import CheckpointError, CheckpointNotFoundError, LockTimeoutError
from checkpointing.store._manifest import DATA_SUFFIX, FORMAT_VERSION, MANIFEST_SUFFIX
from checkpointing.store._parquet import read_parquet, write_parquet
from checkpointing.store._retention import cutoff_of
from checkpointing.store._verify import decode_verified, map_verified

if TYPE_CHECKING:
    from collections.abc import Callable

    from checkpointing.store._manager import CheckpointManager

__all__ = ["CompactionResult"]

logger = logging.getLogger("checkpointing.store._manager")

CODECS = ("snappy", "zstd", "gzip", "brotli", "lz4", "none")
#: The compression levels each codec accepts; the others take none.
LEVELS = {"zstd": (1, 22), "gzip": (1, 9), "brotli": (0, 11), "lz4": (1, 12)}
_CHUNK = 4 << 20


@dataclass(frozen=True)
class CompactionResult:
    """What :meth:`CheckpointManager.compact` did (or, with ``dry_run``, would do).

    Attributes:
        rewritten: Ids of the checkpoints rewritten with the new codec (with ``dry_run``: those
            that would be).
        skipped: Ids of old enough checkpoints already at that codec and level.
        failed: ``(id, reason)`` of checkpoints left as they were because they failed
            verification (damaged data is never re-encoded).
        bytes_before: Size of the rewritten checkpoints' data before.
        bytes_after: Their size after (``None`` with ``dry_run``).
        dry_run: Whether nothing was written.
        codec: The codec asked for.
        level: The compression level asked for (``None``: the codec's default).
    """

    rewritten: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()
    bytes_before: int = 0
    bytes_after: int | None = 0
    dry_run: bool = False
    codec: str = "zstd"
    level: int | None = None

    @property
    def bytes_saved(self) -> int:
        """``bytes_before - bytes_after`` (0 with ``dry_run``)."""
        return 0 if self.bytes_after is None else self.bytes_before - self.bytes_after

    def to_dict(self) -> dict[str, Any]:
        """The result as strict-JSON-ready values."""
        return {
            "dry_run": self.dry_run,
            "codec": self.codec,
            "level": self.level,
            "rewritten": list(self.rewritten),
            "skipped": list(self.skipped),
            "failed": [{"checkpoint_id": c, "error": e} for c, e in self.failed],
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
            "bytes_saved": self.bytes_saved,
        }


def check_codec(codec: str, level: int | None) -> None:
    """Raise ValueError for a codec this pyarrow lacks or a level outside the codec's range."""
    if codec not in CODECS or (codec != "none" and not pa.Codec.is_available(cast("Any", codec))):
        raise ValueError(
            f"unknown or unavailable Parquet compression {codec!r}; "
            f"choose one of {', '.join(CODECS)}"
        )
    if level is None:
        return
    if not isinstance(level, int) or isinstance(level, bool):
        raise ValueError(f"compression level must be an int, not {level!r}")
    if codec not in LEVELS:
        raise ValueError(f"codec {codec!r} takes no compression level")
    low, high = LEVELS[codec]
    if not low <= level <= high:
        raise ValueError(f"{codec} compression level must be {low} to {high}, not {level}")


def check_age(older_than: timedelta | float) -> float:
    """``older_than`` in days; ValueError unless a finite, non-negative span."""
    days = older_than / timedelta(days=1) if isinstance(older_than, timedelta) else older_than
    if isinstance(days, bool) or not isinstance(days, int | float) or not math.isfinite(days):
        raise ValueError(f"older_than must be a timedelta or a number of days, not {older_than!r}")
    if days < 0:
        raise ValueError("older_than must not be negative")
    try:
        cutoff_of(days)
    except OverflowError:
        raise ValueError(f"older_than reaches back before year 1: {older_than!r}") from None
    return float(days)


def compact_checkpoints(
    manager: CheckpointManager,
    *,
    older_than: timedelta | float,
    codec: str,
    level: int | None,
    pipeline_id: str | None,
    dry_run: bool,
    progress: Callable[[int, int], None] | None = None,
) -> CompactionResult:
    """Compact the checkpoints older than ``older_than``; see :meth:`CheckpointManager.compact`."""
    check_codec(codec, level)
    cutoff = cutoff_of(check_age(older_than))
    candidates = [
        e["checkpoint_id"]
        for e in reversed(manager.list_checkpoints(pipeline_id))
        if e["timestamp"] < cutoff
    ]
    rewritten: list[str] = []
    skipped: list[str] = []
    failed: list[tuple[str, str]] = []
    before = after = 0
    for done, cid in enumerate(candidates):
        if progress is not None:
            progress(done, len(candidates))
        try:
            state = manager.get_state(cid)
            if state.get("compression") == codec and state.get("compression_level") == level:
                skipped.append(cid)
                continue
            if dry_run:
                sizes: tuple[int, int] | None = (state["data_size"], state["data_size"])
            else:
                sizes = _compact_one(manager, cid, state, codec, level)
        except CheckpointNotFoundError:
            continue  # deleted meanwhile
        except LockTimeoutError:
            raise
        except CheckpointError as exc:  # damaged, or not re-encoded faithfully: left as it is
            failed.append((cid, str(exc)))
            logger.warning("not compacting checkpoint %s: %s", cid, exc)
            continue
        if sizes is None:
            continue  # deleted or compacted by another process meanwhile
        rewritten.append(cid)
        before += sizes[0]
        after += sizes[1]
    if progress is not None:
        progress(len(candidates), len(candidates))
    if rewritten and not dry_run:
        logger.info(
            "compacted %d checkpoint(s) to %s: %d -> %d bytes", len(rewritten), codec, before, after
        )
    return CompactionResult(
        rewritten=tuple(rewritten),
        skipped=tuple(skipped),
        failed=tuple(failed),
        bytes_before=before,
        bytes_after=None if dry_run else after,
        dry_run=dry_run,
        codec=codec,
        level=level,
    )


def _compact_one(
    manager: CheckpointManager, cid: str, state: dict[str, Any], codec: str, level: int | None
) -> tuple[int, int] | None:
    """Rewrite one checkpoint; its sizes before and after, or None if it changed meanwhile."""
    storage = manager.storage
    buffer = map_verified(storage, cid, state, full=True)
    table = pq.read_table(pa.BufferReader(buffer))
    sink = pa.BufferOutputStream()
    write_parquet(table, sink, compression=codec, level=level)
    encoded = sink.getvalue()
    if not pq.read_table(pa.BufferReader(encoded)).equals(table, check_metadata=True):
        raise CheckpointError(f"re-encoding checkpoint {cid} with {codec} changed its data")
    del table, buffer
    new_file = f"{cid}.{secrets.token_hex(4)}{DATA_SUFFIX}"
    with storage.staged_writer(new_file) as out:
        view = memoryview(encoded)
        for start in range(0, len(view), _CHUNK):
            out.write(view[start : start + _CHUNK])
    written, data_staged = out.result, out.staged
    assert written is not None and data_staged is not None
    manifest = _compacted_manifest(state, new_file, written.sha256, written.xxh3, written.size)
    manifest["compression"], manifest["compression_level"] = codec, level
    name = cid + MANIFEST_SUFFIX
    try:
        # Decoded as a load would: the rows and columns the manifest lists.
        decode_verified(storage, cid, manifest, read_parquet(encoded))
        current, version = storage.read_json_version(name)
    except FileNotFoundError:
        storage.discard(data_staged)
        return None  # deleted meanwhile
    except BaseException:
        storage.discard(data_staged)
        raise
    if current != state:
        storage.discard(data_staged)
        return None  # compacted by another process meanwhile
    storage.commit(data_staged)  # the new data object, under a name of its own
    committed = False
    try:
        with manager._registry.locked():
            try:
                # The commit point: only over the manifest read above (compare-and-swap).
                storage.replace_json(name, manifest, version=version)
            except FileExistsError:
                return None  # deleted or compacted meanwhile: this one must not commit
            committed = True
            manager._index(manifest)
    finally:
        if not committed:
            with contextlib.suppress(OSError):
                storage.remove(new_file)
    storage.remove(state["data_file"])
    logger.info(
        "compacted checkpoint %s to %s: %d -> %d bytes",
        cid,
        codec,
        state["data_size"],
        written.size,
    )
    return state["data_size"], written.size


def _compacted_manifest(
    state: dict[str, Any], data_file: str, sha256: str, xxh3: str, size: int
) -> dict[str, Any]:
    """``state`` naming the new data object, with the original as ``compacted_from``."""
    manifest = {k: v for k, v in state.items() if k != "data_crc32"}
    original = state.get("compacted_from")
    if not isinstance(original, dict):
        original = {
            "data_file": state["data_file"],
            "data_hash": state["data_hash"],
            "data_size": state["data_size"],
            "compression": state.get("compression"),
        }
    manifest.update(
        format_version=FORMAT_VERSION,
        data_file=data_file,
        data_hash=sha256,
        data_size=size,
        data_xxh3=xxh3,
        compacted_from=original,
        compacted_at=datetime.now(UTC).isoformat(),
    )
    return manifest
