"""Child processes of the backend conformance suite (spawned: importable at module level)."""

from __future__ import annotations

import os
import signal
from typing import Any

import pandas as pd

from checkpointing import CheckpointManager
from checkpointing.storage import open_storage

FRAME = pd.DataFrame({"n": range(50), "x": [i / 7 for i in range(50)]})


def _manager(location: str, options: dict[str, Any]) -> CheckpointManager:
    return CheckpointManager(location, storage_options=options or None)


def save_many(location: str, options: dict[str, Any], tag: int, count: int, queue: Any) -> None:
    """Save ``count`` checkpoints of pipeline ``proc<tag>``; report their ids."""
    manager = _manager(location, options)
    queue.put([manager.save_checkpoint(f"proc{tag}", "s", FRAME) for _ in range(count)])


def race_commit(location: str, options: dict[str, Any], tag: int, barrier: Any, queue: Any) -> None:
    """Commit data and a manifest under names every racer uses; report whether this one won."""
    storage = open_storage(location, storage_options=options or None)
    data = storage.stage_bytes("race.parquet", f"data of {tag}".encode())
    manifest = storage.stage_json("race.json", {"by": tag})
    barrier.wait()
    try:
        storage.commit(data, manifest)
    except FileExistsError:
        queue.put((tag, False))
        return
    queue.put((tag, True))


def create_new(location: str, options: dict[str, Any], tag: int, barrier: Any, queue: Any) -> None:
    """Create-if-absent one name every racer uses; report whether this one created it."""
    storage = open_storage(location, storage_options=options or None)
    barrier.wait()
    queue.put((tag, storage.write_json_new("once.json", {"by": tag})))


def die_before_the_manifest(location: str, options: dict[str, Any]) -> None:
    """Save, but SIGKILL this process after the data is written and before the manifest is.

    The kill happens at the backend's commit point: the hard link that creates a local
    manifest, or the conditional PUT that creates it on an object store.
    """
    manager = _manager(location, options)
    manager.save_checkpoint("warmup", "s", FRAME)  # marker, probe and registry are in place

    def die(*args: Any, **kwargs: Any) -> Any:
        os.kill(os.getpid(), signal.SIGKILL)

    storage: Any = manager.storage
    if hasattr(storage, "root"):
        os.link = die
    else:
        create = storage._create

        def create_or_die(key: str, data: Any, **kwargs: Any) -> Any:
            if "/" not in key and key.endswith(".json"):  # a manifest, not a pipeline's marker
                die()
            return create(key, data, **kwargs)

        storage._create = create_or_die
    manager.save_checkpoint("victim", "s", FRAME)


def hold_lock_then_die(location: str, options: dict[str, Any], name: str, queue: Any) -> None:
    """Take the lock ``name``, say so, and wait to be killed."""
    storage = open_storage(location, storage_options=options or None)
    held = storage.try_lock(name)
    queue.put(held is not None)
    signal.pause()
