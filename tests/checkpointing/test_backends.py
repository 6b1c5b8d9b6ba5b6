"""One conformance suite, run against every storage backend with the same expectations.

The backends: a local directory, obstore's in-memory store (``memory://``) and S3 served by
moto's standalone server on 127.0.0.1 (started by the session, reset before each test). Tests
that need several processes run on the backends processes can share (not ``memory://``).
"""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from checkpointing import (
    CheckpointManager,
    CheckpointNotFoundError,
    IntegrityError,
)
from checkpointing.storage import open_storage
from tests.checkpointing import _backend_workers as workers

FRAME = workers.FRAME
SPAWN = multiprocessing.get_context("spawn")


@dataclass
class Store:
    """Where a backend's store is, and how to open it."""

    kind: str
    location: str
    options: dict[str, Any] = field(default_factory=dict)

    def manager(self, **kwargs: Any) -> CheckpointManager:
        return CheckpointManager(self.location, storage_options=self.options or None, **kwargs)


def _store(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if kind == "local":
        return Store(kind, str(tmp_path / "store"))
    if kind == "memory":
        return Store(kind, f"memory://{uuid.uuid4().hex}", {"lease_seconds": 2})
    return Store(kind, request.getfixturevalue("s3_url"), {"lease_seconds": 2})


@pytest.fixture(params=["local", "memory", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """Every backend."""
    return _store(request.param, request, tmp_path)


@pytest.fixture(params=["local", "s3"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """The backends several processes can share."""
    return _store(request.param, request, tmp_path)


@pytest.fixture(params=["memory", "s3"])
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """The object-store backends."""
    return _store(request.param, request, tmp_path)


def _run(target: Any, *args: Any) -> multiprocessing.process.BaseProcess:
    process = SPAWN.Process(target=target, args=args)
    process.start()
    return process


# -- the store's operations ----------------------------------------------------------------------


def test_save_load_list_latest_delete_and_cleanup(store: Store) -> None:
    manager = store.manager()
    first = manager.save_checkpoint("etl", "extract", FRAME, {"source": "test"})
    second = manager.save_checkpoint("etl", "transform", FRAME.head(10))
    other = manager.save_checkpoint("etl_eu", "extract", FRAME)  # a longer id with our prefix

    loaded = manager.load_checkpoint(first)
    pd.testing.assert_frame_equal(loaded["data"], FRAME)
    assert loaded["state"]["metadata"] == {"source": "test"}
    assert manager.verify_checkpoint(second)["rows"] == 10
    assert [e["checkpoint_id"] for e in manager.list_checkpoints("etl")] == [second, first]
    assert [e["checkpoint_id"] for e in manager.list_checkpoints("etl_eu")] == [other]
    assert {e["checkpoint_id"] for e in manager.list_checkpoints()} == {first, second, other}
    assert manager.get_latest_checkpoint("etl") == second
    assert manager.get_latest_checkpoint("etl", "extract") == first
    assert manager.get_latest_checkpoint("etl_eu") == other
    assert manager.list_pipelines() == ["etl", "etl_eu"]
    assert manager.get_pipeline_progress("etl")["completed_stages"] == ["extract", "transform"]

    reopened = store.manager()  # another process sees the same (a fresh manager)
    assert reopened.get_latest_checkpoint("etl") == second

    assert manager.delete_checkpoint(first) is True
    assert manager.delete_checkpoint(first) is False
    with pytest.raises(CheckpointNotFoundError):
        manager.load_checkpoint(first)
    assert [e["checkpoint_id"] for e in manager.list_checkpoints("etl")] == [second]

    assert manager.cleanup_old_checkpoints(retention_days=1) == 0
    assert manager.cleanup_old_checkpoints(retention_days=0, keep_last=1) == 0
    assert manager.cleanup_old_checkpoints(retention_days=0) == 2
    assert manager.list_checkpoints() == []
    assert manager.get_latest_checkpoint("etl") is None


def test_a_stage_whose_name_holds_underscores_is_told_apart_from_a_longer_pipeline(
    store: Store,
) -> None:
    manager = store.manager()
    mine = manager.save_checkpoint("p", "load_all", FRAME)
    theirs = manager.save_checkpoint("p_load", "all", FRAME)  # the same name up to the time
    assert manager.get_latest_checkpoint("p") == mine
    assert [e["checkpoint_id"] for e in manager.list_checkpoints("p")] == [mine]
    assert manager.get_latest_checkpoint("p_load") == theirs
    assert manager.cleanup_old_checkpoints(retention_days=0, pipeline_id="p") == 1
    assert manager.get_latest_checkpoint("p_load") == theirs


def test_tampered_data_is_refused(store: Store) -> None:
    manager = store.manager()
    checkpoint_id = manager.save_checkpoint("etl", "s", FRAME)
    name = checkpoint_id + ".parquet"
    data = bytearray(manager.storage.read_bytes(name))
    data[len(data) // 2] ^= 0xFF
    manager.storage.write_bytes_atomic(name, bytes(data))
    with pytest.raises(IntegrityError, match="checksum"):
        manager.load_checkpoint(checkpoint_id)
    with pytest.raises(IntegrityError):
        manager.verify_checkpoint(checkpoint_id)


def test_a_truncated_data_object_is_refused(store: Store) -> None:
    manager = store.manager()
    checkpoint_id = manager.save_checkpoint("etl", "s", FRAME)
    name = checkpoint_id + ".parquet"
    manager.storage.write_bytes_atomic(name, manager.storage.read_bytes(name)[:100])
    with pytest.raises(IntegrityError, match="size"):
        manager.load_checkpoint(checkpoint_id)


def test_a_tampered_manifest_is_refused(store: Store) -> None:
    manager = store.manager()
    checkpoint_id = manager.save_checkpoint("etl", "s", FRAME)
    name = checkpoint_id + ".json"
    manager.storage.write_bytes_atomic(name, b'{"not": "a manifest"')
    with pytest.raises(IntegrityError):
        manager.load_checkpoint(checkpoint_id)
    manager.storage.write_json_atomic(name, {"checkpoint_id": checkpoint_id})
    with pytest.raises(IntegrityError):
        manager.load_checkpoint(checkpoint_id)


def test_a_missing_data_object_is_damage_and_cleanup_removes_its_manifest(store: Store) -> None:
    manager = store.manager()
    checkpoint_id = manager.save_checkpoint("etl", "s", FRAME)
    assert manager.storage.remove(checkpoint_id + ".parquet")
    with pytest.raises(IntegrityError, match="missing"):
        manager.load_checkpoint(checkpoint_id)
    manager.cleanup_old_checkpoints(retention_days=1, sweep=True)
    assert manager.list_checkpoints() == []


def test_compaction_rewrites_in_place_and_loads_the_same_frame(store: Store) -> None:
    manager = store.manager()
    checkpoint_id = manager.save_checkpoint("etl", "s", FRAME)
    before = manager.get_state(checkpoint_id)
    result = manager.compact(older_than=0, codec="zstd", level=9)
    assert result.rewritten == (checkpoint_id,)
    state = manager.verify_checkpoint(checkpoint_id)
    assert state["compression"] == "zstd" and state["data_file"] != before["data_file"]
    assert state["compacted_from"]["data_hash"] == before["data_hash"]
    pd.testing.assert_frame_equal(manager.load_checkpoint(checkpoint_id)["data"], FRAME)
    data_objects = [n for n in manager.storage.names() if n.endswith(".parquet")]
    assert data_objects == [state["data_file"]]  # the old data object is gone
    assert manager.compact(older_than=0, codec="zstd", level=9).skipped == (checkpoint_id,)


def test_a_compaction_racing_a_delete_never_brings_the_checkpoint_back(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager = store.manager()
    checkpoint_id = manager.save_checkpoint("etl", "s", FRAME)
    storage = manager.storage
    read = storage.read_json_version

    def read_then_delete(name: str) -> Any:
        found = read(name)  # the version the compaction will try to replace
        assert store.manager().delete_checkpoint(checkpoint_id)
        return found

    monkeypatch.setattr(storage, "read_json_version", read_then_delete)
    result = manager.compact(older_than=0)
    assert result.rewritten == () and result.failed == ()
    monkeypatch.undo()
    assert manager.list_checkpoints() == []
    assert [n for n in storage.names() if n.startswith("etl_")] == []


# -- concurrency -------------------------------------------------------------------------------


def test_concurrent_savers_in_threads(store: Store) -> None:
    manager = store.manager()
    saved: list[str] = []
    lock = threading.Lock()

    def save(tag: int) -> None:
        for _ in range(5):
            checkpoint_id = manager.save_checkpoint(f"t{tag % 2}", f"s{tag}", FRAME)
            with lock:
                saved.append(checkpoint_id)

    threads = [threading.Thread(target=save, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    listed = {e["checkpoint_id"] for e in manager.list_checkpoints()}
    assert listed == set(saved)
    assert len(saved) == 40
    for checkpoint_id in saved[::7]:
        pd.testing.assert_frame_equal(manager.load_checkpoint(checkpoint_id)["data"], FRAME)


def test_concurrent_savers_in_four_processes(shared: Store) -> None:
    results: Any = SPAWN.Queue()
    processes = [
        _run(workers.save_many, shared.location, shared.options, tag, 5, results)
        for tag in range(4)
    ]
    saved = [i for _ in processes for i in results.get(timeout=120)]
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    manager = shared.manager()
    assert {e["checkpoint_id"] for e in manager.list_checkpoints()} == set(saved)
    assert manager.list_pipelines() == ["proc0", "proc1", "proc2", "proc3"]
    for tag in range(4):
        assert manager.get_latest_checkpoint(f"proc{tag}") in saved


def _race_in_processes(shared: Store, target: Any) -> dict[int, bool]:
    """Four processes running ``target`` released at once; ``{tag: whether it won}``."""
    results: Any = SPAWN.Queue()
    barrier = SPAWN.Barrier(4)
    processes = [
        _run(target, shared.location, shared.options, tag, barrier, results) for tag in range(4)
    ]
    outcomes = dict(results.get(timeout=120) for _ in processes)
    for process in processes:
        process.join(60)
    return outcomes


def test_two_writers_racing_to_commit_one_manifest_exactly_one_wins(shared: Store) -> None:
    outcomes = _race_in_processes(shared, workers.race_commit)
    winners = [tag for tag, won in outcomes.items() if won]
    assert len(winners) == 1
    storage = open_storage(shared.location, storage_options=shared.options or None)
    assert storage.read_json("race.json") == {"by": winners[0]}


def test_two_threads_racing_to_commit_one_manifest_exactly_one_wins(store: Store) -> None:
    storage = open_storage(store.location, storage_options=store.options or None)
    barrier = threading.Barrier(4)
    won: list[int] = []

    def race(tag: int) -> None:
        staged = storage.stage_json("race.json", {"by": tag})
        barrier.wait()
        try:
            storage.commit(staged)
        except FileExistsError:
            return
        won.append(tag)

    threads = [threading.Thread(target=race, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1
    assert storage.read_json("race.json") == {"by": won[0]}


def test_create_if_absent_has_exactly_one_winner_across_processes(shared: Store) -> None:
    outcomes = _race_in_processes(shared, workers.create_new)
    assert sum(outcomes.values()) == 1
    storage = open_storage(shared.location, storage_options=shared.options or None)
    winner = next(tag for tag, created in outcomes.items() if created)
    assert storage.read_json("once.json") == {"by": winner}


def test_replace_json_writes_only_over_the_version_it_read(store: Store) -> None:
    storage = open_storage(store.location, storage_options=store.options or None)
    first = storage.replace_json("runs/r.json", {"n": 1}, version=None)
    with pytest.raises(FileExistsError):
        storage.replace_json("runs/r.json", {"n": 9}, version=None)
    value, version = storage.read_json_version("runs/r.json")
    assert (value, version) == ({"n": 1}, first)
    second = storage.replace_json("runs/r.json", {"n": 2}, version=first)
    assert second != first
    with pytest.raises(FileExistsError):
        storage.replace_json("runs/r.json", {"n": 3}, version=first)  # a stale writer
    assert storage.read_json("runs/r.json") == {"n": 2}


# -- crashes -----------------------------------------------------------------------------------


def test_a_save_killed_between_data_and_manifest_leaves_nothing_listed(shared: Store) -> None:
    process = _run(workers.die_before_the_manifest, shared.location, shared.options)
    process.join(120)
    assert process.exitcode == -9  # killed at the commit point, not ended on its own
    manager = shared.manager()
    assert manager.list_checkpoints("victim") == []
    assert manager.get_latest_checkpoint("victim") is None
    orphans = [n for n in manager.storage.names() if n.startswith("victim_")]
    assert len(orphans) == 1 and orphans[0].endswith(".parquet")
    manager.cleanup_old_checkpoints(retention_days=1, sweep=True)  # within the grace period
    assert [n for n in manager.storage.names() if n.startswith("victim_")] == orphans
    manager.cleanup_old_checkpoints(retention_days=1, sweep=True, grace_seconds=0)
    assert [n for n in manager.storage.names() if n.startswith("victim_")] == []
    assert len(manager.list_checkpoints("warmup")) == 1  # the rest is untouched


def test_a_lock_excludes_other_holders_and_ends_with_its_holder(shared: Store) -> None:
    storage = open_storage(shared.location, storage_options=shared.options or None)
    held = storage.try_lock("runs/r.lock")
    assert held is not None
    assert storage.try_lock("runs/r.lock") is None
    held.release()
    held.release()  # idempotent
    answers: Any = SPAWN.Queue()
    process = _run(
        workers.hold_lock_then_die, shared.location, shared.options, "runs/r.lock", answers
    )
    assert answers.get(timeout=120) is True
    assert storage.try_lock("runs/r.lock") is None  # its holder lives
    process.kill()
    process.join(60)
    # The local lock ends with its holder at once; an object store's lease when it expires.
    deadline = time.monotonic() + 60
    while (taken := storage.try_lock("runs/r.lock")) is None:
        assert time.monotonic() < deadline, "the lock of a killed holder never became free"
        time.sleep(0.2)
    taken.release()


def test_a_held_lease_is_renewed_past_its_time_to_live(remote: Store) -> None:
    storage = open_storage(remote.location, storage_options=remote.options)
    held = storage.try_lock("runs/r.lock")
    assert held is not None
    time.sleep(3 * remote.options["lease_seconds"])
    assert storage.try_lock("runs/r.lock") is None
    held.release()
    again = storage.try_lock("runs/r.lock")
    assert again is not None
    again.release()
