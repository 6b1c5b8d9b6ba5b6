"""What in a checkpoint directory is the store's own, and how a directory becomes a store.

The store deletes only what it can prove it wrote: files named by its scheme, in a directory it
marked as a store. A directory is marked by ``stagepoint.store`` (written before the first file
the store writes there), or by the registry of an earlier version (``checkpoint_metadata.json``
or ``.journal``), or by the registry index. Its own files are:

* ``<checkpoint_id>.json`` / ``<checkpoint_id>.parquet`` where the id has the shape
  ``<pipeline_id>_<stage>_<YYYYmmddTHHMMSSffffffZ>_<8 hex>`` (a manifest must also pass the
  manifest schema before anything relies on it);
* ``<checkpoint_id>.<8 hex>.parquet``, the data object a compaction wrote in place of the
  original (the manifest's ``data_file`` names it);
* ``.tmp-<one of these names>-<16 hex>``, the temporary files of its atomic writes;
* the marker, the lock file and everything under ``registry/``.

A user's ``tickers.json`` or ``prices.parquet`` in the same directory matches none of these and is
never touched.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from checkpointing.storage._protocol import Storage

__all__: list[str] = []

MARKER = "stagepoint.store"
LOCK = "checkpoint_metadata.json.lock"
REGISTRY_DIR = "registry"
LEGACY_FILES = ("checkpoint_metadata.json", "checkpoint_metadata.journal")
#: Names directly in a store that are neither checkpoints nor the pipeline layer's ``runs/``.
STORE_FILES = frozenset({MARKER, LOCK, REGISTRY_DIR})

CHECKPOINT_ID = re.compile(r".+_\d{8}T\d{12}Z_[0-9a-f]{8}")
CHECKPOINT_FILE = re.compile(rf"(?P<id>{CHECKPOINT_ID.pattern})\.(?P<kind>json|parquet)")
COMPACTED_DATA = re.compile(rf"(?P<id>{CHECKPOINT_ID.pattern})\.(?P<token>[0-9a-f]{{8}})\.parquet")
TEMP_FILE = re.compile(r"\.tmp-(?P<name>.+)-[0-9a-f]{16}")


def is_checkpoint_id(value: str) -> bool:
    """Whether ``value`` has the shape of a checkpoint id this store creates."""
    return CHECKPOINT_ID.fullmatch(value) is not None


def is_data_object(name: str, checkpoint_id: str) -> bool:
    """Whether ``name`` can be the data object of ``checkpoint_id`` (as saved or compacted)."""
    if name == f"{checkpoint_id}.parquet":
        return True
    found = COMPACTED_DATA.fullmatch(name)
    return found is not None and found["id"] == checkpoint_id


def own_temp_file(name: str) -> bool:
    """Whether ``name`` (directly in the store) is a temporary file of one of the store's writes."""
    found = TEMP_FILE.fullmatch(name)
    if found is None:
        return False
    target = found["name"]
    return (
        CHECKPOINT_FILE.fullmatch(target) is not None
        or COMPACTED_DATA.fullmatch(target) is not None
        or target in (MARKER, *LEGACY_FILES)
    )


def foreign_files(names: list[str]) -> list[str]:
    """The names (directly in a directory) that are not files of a checkpoint store."""
    return [
        n
        for n in names
        if n not in STORE_FILES
        and n not in LEGACY_FILES
        and CHECKPOINT_FILE.fullmatch(n) is None
        and COMPACTED_DATA.fullmatch(n) is None
        and not own_temp_file(n)
    ]


def is_marked(storage: Storage) -> bool:
    """Whether the directory is a store: marked, or holding a registry of this or an earlier
    version."""
    return any(
        storage.exists(name) for name in (MARKER, f"{REGISTRY_DIR}/index.jsonl", *LEGACY_FILES)
    )


def write_marker(storage: Storage) -> None:
    """Mark the directory as a checkpoint store (idempotent)."""
    if storage.exists(MARKER):
        return
    text = json.dumps(
        {
            "stagepoint": "checkpoint store",
            "format_version": 2,
            "created": datetime.now(UTC).isoformat(),
            "note": (
                "Written by stagepoint. Cleanup deletes only the checkpoint, temporary and "
                "registry files it wrote here; other files in this directory are never touched."
            ),
        },
        indent=1,
    )
    storage.write_bytes_atomic(MARKER, text.encode("utf-8") + b"\n")
