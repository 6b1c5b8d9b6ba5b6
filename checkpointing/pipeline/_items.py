"""Item commit records: which checkpoint holds each item of a fan-out, decided once.

An item of ``Pipeline.map`` is committed by creating ``items/<pipeline_id>/<digest>.json``
(``digest`` names the stage and key) in the checkpoint directory with the storage layer's
create-if-absent write, after the item's checkpoint is durable. Of several attempts of one item
(a task that an executor ran again after losing a worker, or a zombie of a lost worker that is
still running), exactly one creates the record; the others find it, delete their own checkpoint
and use the winner's. The records are part of the run's memory: a resumed run restores a
committed item even when its driver died before writing the run record, and they are deleted
with the run record.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from checkpointing.storage._protocol import Storage

__all__: list[str] = []

ITEMS_DIR = "items"
_HOST = socket.gethostname()
_log = logging.getLogger("checkpointing.pipeline")


def _name(pipeline_id: str, stage: str, key: str) -> str:
    # Hashed, so that any valid key (up to 200 characters of UTF-8) fits in a file name and
    # keys differing only in case do not collide on case-insensitive filesystems.
    digest = hashlib.sha256(f"{stage}\0{key}".encode()).hexdigest()[:32]
    return f"{ITEMS_DIR}/{pipeline_id}/{digest}.json"


def commit(storage: Storage, pipeline_id: str, stage: str, key: str, checkpoint_id: str) -> str:
    """Commit ``checkpoint_id`` as the item's checkpoint unless another attempt did first.

    Returns:
        The committed checkpoint id: ``checkpoint_id`` if this call won, else the winner's.

    Raises:
        OSError: The record could not be written, or the winner's record cannot be read.
    """
    record = {
        "pipeline_id": pipeline_id,
        "stage": stage,
        "key": key,
        "checkpoint_id": checkpoint_id,
        "committed_at": datetime.now(UTC).isoformat(),
        "host": _HOST,
        "pid": os.getpid(),
    }
    if storage.write_json_new(_name(pipeline_id, stage, key), record):
        return checkpoint_id
    winner = committed(storage, pipeline_id, stage, key)
    if winner is None:
        msg = f"the commit record of item {key!r} of stage {stage!r} exists but is unusable"
        raise OSError(msg)
    return winner


def committed(storage: Storage, pipeline_id: str, stage: str, key: str) -> str | None:
    """The checkpoint id committed for the item, or ``None`` (none, or an unusable record)."""
    name = _name(pipeline_id, stage, key)
    try:
        record: Any = storage.read_json(name)
    except FileNotFoundError:
        return None
    except ValueError:
        _log.warning("ignoring unreadable item commit record %s", storage.path(name))
        return None
    expected = {"pipeline_id": pipeline_id, "stage": stage, "key": key}
    if (
        not isinstance(record, dict)
        or any(record.get(k) != v for k, v in expected.items())
        or not isinstance(record.get("checkpoint_id"), str)
    ):
        _log.warning("ignoring item commit record %s: it describes another item", name)
        return None
    return str(record["checkpoint_id"])


def uncommit(storage: Storage, pipeline_id: str, stage: str, key: str) -> None:
    """Remove the item's record (the run's owner does this for a checkpoint that is gone)."""
    storage.remove(_name(pipeline_id, stage, key))


def remove_run(storage: Storage, pipeline_id: str) -> int:
    """Remove every commit record of a run; returns how many were removed."""
    directory = f"{ITEMS_DIR}/{pipeline_id}"
    return sum(storage.remove(f"{directory}/{name}") for name in storage.names(directory))
