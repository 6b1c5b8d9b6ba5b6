"""Run records: ids, atomic records, choosing the run to resume, retention."""

from __future__ import annotations

import json
import multiprocessing
import pickle
import re
from datetime import UTC, datetime, timedelta

import pytest

from checkpointing import RunNotFoundError
from checkpointing.pipeline import _items
from checkpointing.pipeline._runs import RunRecord, RunStore, new_pipeline_id
from checkpointing.storage._local import LocalStorage


@pytest.fixture
def store(tmp_path):
    return RunStore(LocalStorage(tmp_path))


def test_pipeline_id_layout_and_uniqueness():
    when = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    ids = {new_pipeline_id("etl", when) for _ in range(2000)}
    assert len(ids) == 2000
    assert all(re.fullmatch(r"etl_20260102_030405_678901[0-9a-f]{12}", i) for i in ids)


def test_pipeline_ids_sort_by_start_time():
    base = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    ids = [new_pipeline_id("etl", base + timedelta(microseconds=m)) for m in (1, 20, 300, 999999)]
    assert ids == sorted(ids)


def test_record_round_trips_through_the_file(store, tmp_path):
    record = RunRecord("etl", new_pipeline_id("etl"))
    record.stages.append({"stage": "a", "checkpoint_ids": ["c1", "c2"], "completed_at": "x"})
    store.write(record)
    on_disk = json.loads((tmp_path / "runs" / f"{record.pipeline_id}.json").read_text())
    assert on_disk["status"] == "running"
    assert store.read(record.pipeline_id) == record
    assert not [p for p in (tmp_path / "runs").iterdir() if p.name.startswith(".tmp")]


def test_checkpoints_of_lists_newest_first(store):
    record = RunRecord("etl", "etl_x")
    record.stages += [
        {"stage": "a", "checkpoint_ids": ["a1", "a2"]},
        {"stage": "b", "checkpoint_ids": ["b1"]},
        {"stage": "a", "checkpoint_ids": ["a3"]},
    ]
    assert record.checkpoints_of("a") == ["a3", "a2", "a1"]
    assert record.checkpoints_of("missing") == []


def test_unknown_run_is_a_key_error_that_pickles(store):
    with pytest.raises(RunNotFoundError) as info:
        store.read("etl_20260101_000000_000000abcdef")
    assert isinstance(info.value, KeyError)
    again = pickle.loads(pickle.dumps(info.value))
    assert again.pipeline_id == info.value.pipeline_id
    assert str(again) == str(info.value)


def _hold_claim(checkpoint_dir: str, pipeline_id: str, ready, release) -> None:
    """Child process: own a run until told to stop."""
    held = RunStore(LocalStorage(checkpoint_dir)).claim(pipeline_id)
    assert held is not None
    ready.set()
    release.wait(60)


@pytest.fixture
def live_owner(tmp_path):
    """Start a real process that owns a run: ``live_owner(pipeline_id)``."""
    ctx = multiprocessing.get_context("spawn")
    started = []

    def start(pipeline_id: str) -> None:
        ready, release = ctx.Event(), ctx.Event()
        proc = ctx.Process(target=_hold_claim, args=(str(tmp_path), pipeline_id, ready, release))
        proc.start()
        assert ready.wait(60)
        started.append((proc, release))

    yield start
    for proc, release in started:
        release.set()
        proc.join(60)


def test_latest_unfinished_skips_complete_other_names_and_live_runs(store, live_owner):
    t = datetime(2026, 1, 1, tzinfo=UTC)
    ids = [new_pipeline_id("etl", t + timedelta(seconds=s)) for s in range(5)]
    statuses = ["failed", "running", "complete", "running", "complete"]
    for pipeline_id, status in zip(ids, statuses, strict=True):
        store.write(RunRecord("etl", pipeline_id, status=status))  # type: ignore[arg-type]
    # A longer name sharing the prefix is another pipeline.
    store.write(
        RunRecord(
            "etl_daily", new_pipeline_id("etl_daily", t + timedelta(hours=1)), status="failed"
        )
    )
    live_owner(ids[3])  # "running" and owned by a live process: never taken over
    found = store.claim_latest_unfinished("etl")
    assert found is not None
    record, held = found
    # ids[1] is "running" but nobody owns it (its process died): it is resumable.
    assert record.pipeline_id == ids[1]
    assert store.is_live(ids[1])
    held.release()
    assert not store.is_live(ids[1])
    assert store.claim_latest_unfinished("other") is None


def test_a_claim_is_exclusive_and_ends_with_its_holder(store):
    first = store.claim("etl_x")
    assert first is not None
    assert store.claim("etl_x") is None  # not even this process gets it twice
    first.release()
    again = store.claim("etl_x")
    assert again is not None
    again.release()


def test_deleting_a_record_drops_its_item_commits(store, tmp_path):
    stale = RunRecord("etl", "etl_20200101_000000_000000aaaaaa", status="complete")
    fresh = RunRecord("etl", new_pipeline_id("etl"), status="failed")
    storage = LocalStorage(tmp_path)
    for record in (stale, fresh):
        store.write(record)
        for key in ("AAPL", "MSFT"):
            _items.commit(storage, record.pipeline_id, "fetch", key, f"{key}-checkpoint")
    assert store.delete(stale.pipeline_id)
    assert storage.names(f"items/{stale.pipeline_id}") == []
    assert _items.committed(storage, fresh.pipeline_id, "fetch", "MSFT") == "MSFT-checkpoint"
