"""The manifest: one checkpoint's state as a JSON document beside its data file.

A manifest is the source of truth of the store (the registry is only an index over them): a
checkpoint exists exactly when its manifest does. It is strict JSON, never pickle, and is checked
field by field before anything relies on it.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING, Any

from checkpointing._errors import IntegrityError

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path

__all__: list[str] = []

# 2: the per-load checksum is data_xxh3 (xxh3_64, 16 hex digits); version 1 manifests carry
# data_crc32 (zlib CRC-32) instead and keep loading.
FORMAT_VERSION = 2
DATA_SUFFIX = ".parquet"
MANIFEST_SUFFIX = ".json"
_HOST = socket.gethostname()
# The manifest fields the registry, listing and verification rely on, with their JSON types.
_FIELD_TYPES: dict[str, type] = {
    "pipeline_id": str,
    "stage": str,
    "timestamp": str,
    "data_file": str,
    "data_hash": str,
    "data_size": int,
    "rows": int,
}
# The whole-file checksum every load checks: one of these, newest first.
CHECKSUM_FIELDS: dict[str, type] = {"data_xxh3": str, "data_crc32": int}


def build_manifest(
    *,
    checkpoint_id: str,
    pipeline_id: str,
    stage: str,
    when: datetime,
    data_file: str,
    sha256: str,
    size: int,
    xxh3: str,
    compression: str,
    rows: int,
    columns: Any,
    metadata: dict[str, Any],
    fingerprint: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest of a checkpoint whose data file has just been written.

    ``fingerprint`` (``{"sha256", "document"}``, from the pipeline's stage fingerprint) is
    stored as the top-level ``fingerprint`` field when given.
    """
    manifest = {
        "format_version": FORMAT_VERSION,
        "checkpoint_id": checkpoint_id,
        "pipeline_id": pipeline_id,
        "stage": stage,
        "timestamp": when.isoformat(),
        "data_file": data_file,
        "data_hash": sha256,
        "data_size": size,
        "data_xxh3": xxh3,
        "compression": compression,
        "rows": rows,
        "columns": columns,
        "metadata": metadata,
        "host": _HOST,
        "pid": os.getpid(),
    }
    if fingerprint is not None:
        manifest["fingerprint"] = fingerprint
    return manifest


def content_hash(state: dict[str, Any]) -> str:
    """The SHA-256 that names a checkpoint's content: of its data file as saved.

    A compaction re-encodes the data file (new ``data_hash``) but keeps the rows exactly, so the
    hash of the original, recorded as ``compacted_from``, still names the content.
    """
    original = state.get("compacted_from")
    if isinstance(original, dict) and isinstance(original.get("data_hash"), str):
        return str(original["data_hash"])
    return str(state["data_hash"])


def check_manifest(state: object, checkpoint_id: str, path: str | Path) -> dict[str, Any]:
    """Return ``state`` if it is a well-formed manifest of ``checkpoint_id``.

    Raises:
        IntegrityError: It describes another id, or a field it needs has the wrong type.
    """
    if not isinstance(state, dict) or state.get("checkpoint_id") != checkpoint_id:
        raise IntegrityError(checkpoint_id, path, "manifest does not describe this id")
    checksum = next((key for key in CHECKSUM_FIELDS if key in state), "data_xxh3")
    for key, kind in (*_FIELD_TYPES.items(), (checksum, CHECKSUM_FIELDS[checksum])):
        value = state.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise IntegrityError(
                checkpoint_id,
                path,
                f"manifest field {key!r} is {type(value).__name__}, not {kind.__name__}",
            )
    return state
