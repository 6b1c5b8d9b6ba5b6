"""Run-aware retention: one pipeline's cleanup never touches another's runs, nor a live run."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from checkpointing import CheckpointManager, Pipeline
from checkpointing.pipeline._runs import RunRecord, RunStore, new_pipeline_id
from tests.pipeline._helpers import frame

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def dirs(tmp_path):
    return {"checkpoint_dir": tmp_path / "ckpt", "log_dir": tmp_path / "logs"}


def ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def past_run(dirs, name, days, *, stages=("a",), status="complete", finished_days=None, pid=None):
    """A run of ``name`` that started ``days`` ago, its checkpoints and record aged with it."""
    manager = CheckpointManager(dirs["checkpoint_dir"])
    run_id = new_pipeline_id(name, ago(days))
    record = RunRecord(name, run_id, status=status, started_at=ago(days).isoformat())
    ended = ago(days if finished_days is None else finished_days).isoformat()
    record.finished_at = None if status == "running" else ended
    for stage in stages:
        cid = manager.save_checkpoint(run_id, stage, frame(5))
        path = manager.checkpoint_dir / f"{cid}.json"
        state = json.loads(path.read_text())
        state["timestamp"] = ago(days).isoformat()
        path.write_text(json.dumps(state))
        record.stages.append({"stage": stage, "checkpoint_ids": [cid], "completed_at": ended})
    RunStore(manager.storage).write(record)
    manager.rebuild_registry()
    return run_id


def ids_of(dirs, pipeline_id):
    return [
        e["checkpoint_id"]
        for e in CheckpointManager(dirs["checkpoint_dir"]).list_checkpoints(pipeline_id)
    ]


def has_record(dirs, run_id):
    return (dirs["checkpoint_dir"] / "runs" / f"{run_id}.json").exists()


def test_a_pipelines_retention_never_touches_another_pipelines_data(dirs):
    other = past_run(dirs, "other", 30, stages=("a", "b"))
    longer = past_run(dirs, "etl_daily", 30)  # a name that merely starts with "etl"
    mine = past_run(dirs, "etl", 30)
    manager = CheckpointManager(dirs["checkpoint_dir"])
    adhoc = manager.save_checkpoint("adhoc", "s", frame(5))  # a CheckpointManager user's
    with Pipeline("etl", retention_days=0.0001, **dirs) as p, p.stage("extract") as s:
        s.checkpoint(frame(5))
    assert ids_of(dirs, mine) == [] and not has_record(dirs, mine)
    assert len(ids_of(dirs, other)) == 2 and has_record(dirs, other)
    assert len(ids_of(dirs, longer)) == 1 and has_record(dirs, longer)
    assert ids_of(dirs, "adhoc") == [adhoc]
    assert len(ids_of(dirs, p.pipeline_id)) == 1 and has_record(dirs, p.pipeline_id)


def _live_run(checkpoint_dir: str, log_dir: str, ready, go, done) -> None:
    """A run that saves two stages, waits while others clean up, then checks and finishes."""
    p = Pipeline("etl", checkpoint_dir=checkpoint_dir, log_dir=log_dir)
    with p:
        for stage in ("extract", "transform"):
            with p.stage(stage) as s:
                s.checkpoint(frame(20))
        ready.put(p.pipeline_id)
        assert go.wait(120)
        manager = CheckpointManager(checkpoint_dir)
        for stage in ("extract", "transform"):
            cid = manager.get_latest_checkpoint(p.pipeline_id, stage=stage)
            assert cid is not None and len(manager.load_checkpoint(cid)["data"]) == 20
        with p.stage("load") as s:
            s.checkpoint(frame(3))
    done.put(p.pipeline_id)


def _cleanup_run(checkpoint_dir: str, log_dir: str) -> None:
    p = Pipeline("etl", retention_days=0, checkpoint_dir=checkpoint_dir, log_dir=log_dir)
    with p, p.stage("other") as s:
        s.checkpoint(frame(2))


def test_retention_zero_never_deletes_a_run_still_going_in_another_process(dirs):
    ctx = multiprocessing.get_context("spawn")
    ready, done, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    args = (str(dirs["checkpoint_dir"]), str(dirs["log_dir"]))
    live = ctx.Process(target=_live_run, args=(*args, ready, go, done))
    live.start()
    try:
        live_id = ready.get(timeout=120)
        cleaner = ctx.Process(target=_cleanup_run, args=args)
        cleaner.start()
        cleaner.join(120)
        assert cleaner.exitcode == 0
        command = [sys.executable, "-m", "checkpointing", "--dir", args[0], "cleanup"]
        result = subprocess.run(
            [*command, "--retention-days", "0"], check=False, cwd=ROOT, capture_output=True
        )
        assert result.returncode == 0, result.stderr
        assert len(ids_of(dirs, live_id)) == 2 and has_record(dirs, live_id)
    finally:
        go.set()
        live.join(120)
    assert live.exitcode == 0
    assert done.get(timeout=10) == live_id
    assert len(ids_of(dirs, live_id)) == 3
    # Once it completed, it is an ordinary run: retention 0 expires it at the next cleanup.
    _cleanup_run(*args)
    assert ids_of(dirs, live_id) == [] and not has_record(dirs, live_id)


def test_a_failed_run_keeps_its_checkpoints_as_long_as_its_record(dirs):
    # Started 10 days ago, failed 2 days ago: its 10-day-old checkpoint is what a resume needs.
    failed = past_run(dirs, "etl", 10, status="failed", finished_days=2)
    (kept,) = ids_of(dirs, failed)
    with Pipeline("etl", retention_days=7, **dirs):
        pass
    assert ids_of(dirs, failed) == [kept] and has_record(dirs, failed)
    resumed = Pipeline("etl", resume=True, **dirs)
    assert resumed.pipeline_id == failed
    with resumed, resumed.stage("a") as s:
        assert s.restored
    # Its record expires by retention like any run's, and takes its checkpoints with it.
    past = past_run(dirs, "etl", 9, status="failed", finished_days=8)
    with Pipeline("etl", retention_days=7, **dirs):
        pass
    assert ids_of(dirs, past) == [] and not has_record(dirs, past)


def test_checkpoints_of_a_run_without_a_record_expire_by_their_own_time(dirs):
    old = past_run(dirs, "etl", 10)
    young = past_run(dirs, "etl", 1)
    for run_id in (old, young):
        (dirs["checkpoint_dir"] / "runs" / f"{run_id}.json").unlink()
    with Pipeline("etl", retention_days=7, **dirs):
        pass
    assert ids_of(dirs, old) == []
    assert len(ids_of(dirs, young)) == 1


def test_keep_last_and_dry_run(dirs):
    runs = [past_run(dirs, "etl", days) for days in (20, 19, 18, 17, 16)]
    p = Pipeline("etl", retention_days=7, **dirs)
    plan = p.cleanup(keep_last=2, dry_run=True)
    assert plan["runs"] == runs[:3]
    assert sorted(plan["checkpoints"]) == sorted(c for r in runs[:3] for c in ids_of(dirs, r))
    assert all(has_record(dirs, r) and ids_of(dirs, r) for r in runs)  # nothing deleted
    counts = p.cleanup(keep_last=2)
    assert counts["runs"] == 3 and counts["checkpoints"] == 3
    assert [r for r in runs if has_record(dirs, r)] == runs[3:]


def test_live_and_unreadable_runs_are_kept(dirs, caplog):
    live = past_run(dirs, "etl", 30, status="running")
    stale = past_run(dirs, "etl", 30)
    dead = past_run(dirs, "etl", 30, status="running")  # its process died: nobody holds it
    broken = past_run(dirs, "etl", 30)
    (dirs["checkpoint_dir"] / "runs" / f"{broken}.json").write_text("{not json")
    runs = RunStore(CheckpointManager(dirs["checkpoint_dir"]).storage)
    held = runs.claim(live)  # as the process running it does
    assert held is not None
    try:
        counts = Pipeline("etl", retention_days=7, **dirs).cleanup()
    finally:
        held.release()
    assert counts["runs"] == 2 and not has_record(dirs, stale) and not has_record(dirs, dead)
    for run_id in (live, broken):
        assert has_record(dirs, run_id) and ids_of(dirs, run_id)
    assert any(broken in r.getMessage() for r in caplog.records)


def test_interrupted_writes_of_run_records_are_removed_for_this_pipeline_only(dirs):
    Pipeline("etl", **dirs).cleanup()
    runs = dirs["checkpoint_dir"] / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    mine = runs / f".tmp-{new_pipeline_id('etl')}.json-0123456789abcdef"
    theirs = runs / f".tmp-{new_pipeline_id('other')}.json-0123456789abcdef"
    foreign = runs / ".tmp-notes.json-0123456789abcdef"
    hour_ago = time.time() - 3600
    for path in (mine, theirs, foreign):
        path.write_text("partial")
        os.utime(path, (hour_ago, hour_ago))
    Pipeline("etl", **dirs).cleanup()
    assert not mine.exists() and theirs.exists() and foreign.exists()


def test_the_cleanup_command_scopes_keeps_and_dry_runs(dirs):
    runs = [past_run(dirs, "etl", days) for days in (20, 19, 18)]
    other = past_run(dirs, "other", 20)
    manager = CheckpointManager(dirs["checkpoint_dir"])
    manager.save_checkpoint("etl", "plain", frame(2))  # pipeline id "etl" of a manager user
    base = [sys.executable, "-m", "checkpointing", "--dir", str(dirs["checkpoint_dir"])]

    def cleanup(*argv):
        result = subprocess.run(
            [*base, "cleanup", "--json", *argv], check=False, cwd=ROOT, capture_output=True
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    plan = cleanup("--pipeline", "etl", "--keep-last", "1", "--dry-run")
    assert plan["dry_run"] is True and plan["runs"] == runs[:2]
    assert all(has_record(dirs, r) for r in runs)
    done = cleanup("--pipeline", "etl", "--keep-last", "1")
    assert done == {"deleted": 2, "deleted_runs": 2}
    assert [r for r in runs if has_record(dirs, r)] == runs[2:]
    assert has_record(dirs, other) and ids_of(dirs, other)
    assert len(ids_of(dirs, "etl")) == 1  # younger than 7 days
    done = cleanup("--retention-days", "0")
    assert done == {"deleted": 3, "deleted_runs": 2}
