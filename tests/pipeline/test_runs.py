"""Run records: ids, atomic records, choosing the run to resume."""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from checkpointing import RunNotFoundError
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


def _dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(proc.stdout)


def test_latest_unfinished_skips_complete_other_names_and_live_runs(store):
    t = datetime(2026, 1, 1, tzinfo=UTC)
    ids = [new_pipeline_id("etl", t + timedelta(seconds=s)) for s in range(5)]
    statuses = ["failed", "running", "complete", "running", "complete"]
    for pipeline_id, status in zip(ids, statuses, strict=True):
        record = RunRecord("etl", pipeline_id, status=status)  # type: ignore[arg-type]
        record.pid = _dead_pid() if pipeline_id == ids[1] else os.getppid()
        store.write(record)
    # A longer name sharing the prefix is another pipeline.
    store.write(
        RunRecord(
            "etl_daily",
            new_pipeline_id("etl_daily", t + timedelta(hours=1)),
            status="failed",
            pid=_dead_pid(),
        )
    )
    found = store.latest_unfinished("etl")
    # ids[3] is "running" in a live process (our parent): not taken over.
    assert found is not None and found.pipeline_id == ids[1]
    assert store.latest_unfinished("other") is None
