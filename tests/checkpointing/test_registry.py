"""The registry: one shard per pipeline, the index, compaction, repair, torn lines, migration."""

from __future__ import annotations

import json
import logging
import shutil

import pandas as pd
import pytest

from checkpointing import CheckpointManager, LockTimeoutError
from checkpointing.store import _registry
from checkpointing.store._layout import LOCK, MARKER
from checkpointing.store._shards import INDEX, shard_name


@pytest.fixture
def manager(tmp_path):
    return CheckpointManager(tmp_path)


def save(manager, n=3, pipeline="etl", stage="s"):
    return [manager.save_checkpoint(pipeline, stage, pd.DataFrame({"a": [i]})) for i in range(n)]


def lines(manager, name):
    return [json.loads(line) for line in (manager.checkpoint_dir / name).read_bytes().splitlines()]


def listed(manager, pipeline_id=None):
    return {e["checkpoint_id"] for e in manager.list_checkpoints(pipeline_id)}


def test_each_save_appends_one_line_to_its_pipelines_shard(manager):
    ids = save(manager, 3)
    other = save(manager, 1, pipeline="other")
    shard = lines(manager, shard_name("etl"))
    assert shard[0]["op"] == "shard" and shard[0]["pipeline_id"] == "etl"
    assert [(r["op"], r["entry"]["checkpoint_id"]) for r in shard[1:]] == [("add", i) for i in ids]
    assert [r["entry"]["checkpoint_id"] for r in lines(manager, shard_name("other"))[1:]] == other
    index = lines(manager, INDEX)
    assert {r["pipeline_id"] for r in index[1:]} == {"etl", "other"}
    manager.delete_checkpoint(ids[0])
    assert lines(manager, shard_name("etl"))[-1] == {"op": "delete", "checkpoint_id": ids[0]}


def test_reading_one_pipeline_opens_only_its_shard(manager, caplog):
    ids = save(manager, 2)
    save(manager, 2, pipeline="other")
    (manager.checkpoint_dir / shard_name("other")).write_bytes(b"\x00damaged")
    caplog.set_level(logging.WARNING, logger="checkpointing")
    assert manager.get_latest_checkpoint("etl") == ids[-1]
    assert listed(manager, "etl") == set(ids)
    assert manager.get_pipeline_progress("etl")["total_checkpoints"] == 2
    assert not caplog.records  # the damaged shard of "other" was never read
    assert len(listed(manager)) == 4  # reading everything finds and repairs it
    assert any("rebuilt it from 2 manifest(s)" in r.getMessage() for r in caplog.records)


def test_shards_are_compacted_once_they_double(manager, monkeypatch):
    monkeypatch.setattr(_registry, "COMPACT_SLACK", 1000)
    path = manager.checkpoint_dir / shard_name("etl")
    ids, compactions, last_base = [], 0, None

    def check():
        nonlocal compactions, last_base
        data = path.read_bytes()
        header = json.loads(data.splitlines()[0])
        longest = max(len(line) + 1 for line in data.splitlines())
        assert len(data) <= 2 * header["base"] + 1000 + longest  # never much over twice its size
        compactions += header["base"] != last_base
        last_base = header["base"]

    for _ in range(40):
        ids += save(manager, 1)
        check()
    for cid in ids[:35]:
        manager.delete_checkpoint(cid)
        check()
    assert compactions >= 4
    assert listed(manager, "etl") == set(ids[35:])
    header = json.loads(path.read_bytes().splitlines()[0])
    assert header["oldest"] <= min(manager.get_state(c)["timestamp"] for c in ids[35:])


def test_a_pipeline_left_without_checkpoints_leaves_no_shard(manager):
    ids = save(manager, 2)
    keep = save(manager, 1, pipeline="other")
    for cid in ids:
        manager.delete_checkpoint(cid)
    assert not (manager.checkpoint_dir / shard_name("etl")).exists()
    assert manager.list_pipelines() == ["other"]
    assert listed(manager) == set(keep)
    again = save(manager, 1)
    assert listed(manager, "etl") == set(again)


def test_a_torn_last_line_is_read_as_damage_and_rebuilt(manager, caplog):
    ids = save(manager, 2)
    path = manager.checkpoint_dir / shard_name("etl")
    with path.open("ab") as f:
        f.write(b'{"op":"add","entry":{"checkpoint_id":"etl_s_2')  # killed mid-append
    caplog.set_level(logging.WARNING, logger="checkpointing")
    assert listed(manager, "etl") == set(ids)
    assert any("rebuilt it from 2 manifest(s)" in r.getMessage() for r in caplog.records)
    assert path.read_bytes().endswith(b"\n")


def test_a_writer_rebuilds_a_torn_shard_before_appending(manager):
    ids = save(manager, 2)
    with (manager.checkpoint_dir / shard_name("etl")).open("ab") as f:
        f.write(b'{"op":"add","ent')
    more = save(manager, 1)
    records = lines(manager, shard_name("etl"))
    assert {r["entry"]["checkpoint_id"] for r in records[1:]} == set(ids + more)


@pytest.mark.parametrize("damage", ["shard deleted", "index deleted", "registry deleted"])
def test_a_missing_registry_file_is_rebuilt_from_the_manifests(manager, damage, caplog):
    ids = save(manager, 3)
    target = {
        "shard deleted": shard_name("etl"),
        "index deleted": INDEX,
        "registry deleted": "registry",
    }[damage]
    path = manager.checkpoint_dir / target
    shutil.rmtree(path) if path.is_dir() else path.unlink()
    caplog.set_level(logging.WARNING, logger="checkpointing")
    assert manager.get_latest_checkpoint("etl") == ids[-1]
    assert listed(manager) == set(ids)
    assert any("rebuilt it from 3 manifest(s)" in r.getMessage() for r in caplog.records)
    assert (manager.checkpoint_dir / shard_name("etl")).exists()
    assert (manager.checkpoint_dir / INDEX).exists()


def test_an_unknown_pipeline_is_answered_from_the_index_without_a_scan(manager, caplog):
    save(manager, 2)
    caplog.set_level(logging.DEBUG, logger="checkpointing")
    assert manager.get_latest_checkpoint("nope") is None
    assert manager.list_checkpoints("nope") == []
    assert manager.list_checkpoints("../escape") == []
    assert not caplog.records


def test_an_out_of_order_timestamp_lowers_the_index_bound(manager):
    ids = save(manager, 2)
    path = manager.checkpoint_dir / f"{ids[1]}.json"
    state = json.loads(path.read_text())
    state["timestamp"] = "2001-01-01T00:00:00+00:00"  # as if another host's clock were behind
    path.write_text(json.dumps(state))
    manager._index(manager.get_state(ids[1]))  # re-registered with the older time
    assert dict(manager._registry.pipelines())["etl"] == "2001-01-01T00:00:00+00:00"
    assert manager.cleanup_old_checkpoints(retention_days=7) == 1
    assert listed(manager) == {ids[0]}


def test_rebuild_returns_the_count_and_drops_dangling_entries(manager):
    ids = save(manager, 3)
    (manager.checkpoint_dir / f"{ids[0]}.json").unlink()
    assert manager.rebuild_registry() == 2
    assert listed(manager) == set(ids[1:])
    assert len(lines(manager, shard_name("etl"))) == 3


def test_a_registry_of_the_previous_format_is_read_and_migrated(manager, caplog):
    ids = save(manager, 2)
    directory = manager.checkpoint_dir
    shutil.rmtree(directory / "registry")
    (directory / MARKER).unlink()
    entries = {cid: {"checkpoint_id": cid} for cid in ids}
    (directory / "checkpoint_metadata.json").write_text(
        json.dumps({"format_version": 1, "checkpoints": entries})
    )
    (directory / "checkpoint_metadata.journal").write_text("")
    fresh = CheckpointManager(directory)
    caplog.set_level(logging.INFO, logger="checkpointing")
    assert listed(fresh) == set(ids)
    assert any("migrated" in r.getMessage() for r in caplog.records)
    assert not (directory / "checkpoint_metadata.json").exists()
    assert (directory / MARKER).exists()
    more = save(fresh, 1)
    assert listed(fresh, "etl") == set(ids + more)


def test_writers_wait_for_the_lock_and_readers_do_not(manager):
    import filelock

    ids = save(manager, 1)
    lock_path = manager.checkpoint_dir / LOCK
    held = CheckpointManager(manager.checkpoint_dir, lock_timeout=0.05)
    with filelock.FileLock(lock_path, thread_local=False, is_singleton=False):
        assert held.get_latest_checkpoint("etl") == ids[0]
        assert listed(held) == set(ids)
        with pytest.raises(LockTimeoutError) as info:
            held.save_checkpoint("etl", "s", pd.DataFrame({"a": [9]}))
    assert info.value.path == str(lock_path)
    assert "delete" in str(info.value)
