"""The registry: journal appends, compaction, rebuild from manifests, torn lines, lock timeout."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest

from checkpointing import CheckpointManager, LockTimeoutError
from checkpointing.store import _registry


@pytest.fixture
def manager(tmp_path):
    return CheckpointManager(tmp_path)


def save(manager, n=3, stage="s"):
    return [manager.save_checkpoint("etl", stage, pd.DataFrame({"a": [i]})) for i in range(n)]


def journal(manager):
    return (manager.checkpoint_dir / _registry.JOURNAL).read_bytes()


def test_each_save_appends_one_journal_line(manager):
    ids = save(manager, 3)
    lines = [json.loads(line) for line in journal(manager).splitlines()]
    assert [(r["op"], r["entry"]["checkpoint_id"]) for r in lines] == [("add", i) for i in ids]
    manager.delete_checkpoint(ids[0])
    assert json.loads(journal(manager).splitlines()[-1]) == {
        "op": "delete",
        "checkpoint_id": ids[0],
    }


def test_journal_is_compacted_into_the_snapshot(manager, monkeypatch):
    monkeypatch.setattr(_registry, "COMPACT_BYTES", 1000)
    ids = save(manager, 12)
    snapshot = json.loads((manager.checkpoint_dir / _registry.SNAPSHOT).read_text())
    assert len(journal(manager)) <= 1000
    assert len(snapshot["checkpoints"]) >= 3
    assert {e["checkpoint_id"] for e in manager.list_checkpoints()} == set(ids)


@pytest.mark.parametrize("damage", ["missing", "garbage", "wrong shape", "unknown version"])
def test_bad_snapshot_is_rebuilt_from_manifests_with_a_warning(manager, damage, caplog):
    ids = save(manager, 3)
    manager._registry.compact()  # everything in the snapshot, nothing in the journal
    snapshot = manager.checkpoint_dir / _registry.SNAPSHOT
    contents = {
        "garbage": "{{{",
        "wrong shape": "[1, 2]",
        "unknown version": json.dumps({"format_version": 99, "checkpoints": {}}),
    }
    if damage == "missing":
        snapshot.unlink()
    else:
        snapshot.write_text(contents[damage])
    with caplog.at_level(logging.WARNING, logger="checkpointing"):
        listed = {e["checkpoint_id"] for e in manager.list_checkpoints()}
    assert listed == set(ids)
    assert any("rebuilt" in r.getMessage() for r in caplog.records)
    assert json.loads(snapshot.read_text())["format_version"] == 1


def test_torn_last_journal_line_is_ignored_and_repaired(manager):
    ids = save(manager, 2)
    path = manager.checkpoint_dir / _registry.JOURNAL
    with path.open("ab") as f:
        f.write(b'{"op": "add", "entry": {"checkpoint_id": "etl_s_2')  # killed mid-append
    assert {e["checkpoint_id"] for e in manager.list_checkpoints()} == set(ids)
    more = save(manager, 1)
    assert {e["checkpoint_id"] for e in manager.list_checkpoints()} == set(ids + more)
    assert json.loads(journal(manager).splitlines()[-1])["entry"]["checkpoint_id"] == more[0]


def test_rebuild_returns_the_count_and_drops_dangling_entries(manager):
    ids = save(manager, 3)
    (manager.checkpoint_dir / f"{ids[0]}.json").unlink()
    assert manager.rebuild_registry() == 2
    assert {e["checkpoint_id"] for e in manager.list_checkpoints()} == set(ids[1:])
    assert journal(manager) == b""


def test_registry_files_are_not_mistaken_for_manifests(manager):
    save(manager, 2)
    manager._registry.compact()
    assert manager.rebuild_registry() == 2


def test_lock_timeout_raises_lock_timeout_error(manager):
    import filelock

    save(manager, 1)
    lock_path = manager.checkpoint_dir / _registry.LOCK
    held = CheckpointManager(manager.checkpoint_dir, lock_timeout=0.05)
    with (
        filelock.FileLock(lock_path, thread_local=False, is_singleton=False),
        pytest.raises(LockTimeoutError) as info,
    ):
        held.list_checkpoints()
    assert info.value.path == str(lock_path)
    assert "delete" in str(info.value)
