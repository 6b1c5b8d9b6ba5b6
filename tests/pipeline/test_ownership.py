"""Run ownership: exactly one process continues a run; a completed run is never resumed."""

from __future__ import annotations

import multiprocessing

import pytest

from checkpointing import Pipeline, RunUnavailableError
from tests.pipeline._helpers import frame, record_of


@pytest.fixture
def dirs(tmp_path):
    return {"checkpoint_dir": str(tmp_path / "ckpt"), "log_dir": str(tmp_path / "logs")}


def _failed_run(dirs) -> str:
    p = Pipeline("etl", **dirs)
    with pytest.raises(RuntimeError), p:
        with p.stage("extract") as s:
            s.checkpoint(frame(10))
        with p.stage("load"):
            raise RuntimeError("database is down")
    return p.pipeline_id


def test_close_ends_a_run_driven_without_with(dirs):
    p = Pipeline("etl", **dirs)
    with p.stage("extract") as s:
        s.checkpoint(frame(10))
    p.close()
    assert record_of(p)["status"] == "complete"
    later = Pipeline("etl", resume=True, **dirs)
    assert not later.resumed
    assert later.pipeline_id != p.pipeline_id
    with pytest.raises(RuntimeError, match="ended"), p.stage("again"):
        pass


def test_close_records_a_failed_stage_as_a_failed_run(dirs):
    p = Pipeline("etl", **dirs)
    with pytest.raises(ValueError), p.stage("extract"):
        raise ValueError("bad input")
    p.close()
    assert record_of(p)["status"] == "failed"
    assert Pipeline("etl", resume=True, **dirs).pipeline_id == p.pipeline_id


def test_a_completed_run_is_never_continued(dirs):
    p = Pipeline("etl", **dirs)
    with p, p.stage("extract") as s:
        s.checkpoint(frame(10))
    with pytest.raises(RunUnavailableError, match="completed"):
        Pipeline("etl", pipeline_id=p.pipeline_id, **dirs)
    assert not Pipeline("etl", resume=True, **dirs).resumed


def test_a_run_held_by_this_process_cannot_be_taken_twice(dirs):
    pipeline_id = _failed_run(dirs)
    first = Pipeline("etl", pipeline_id=pipeline_id, **dirs)
    with pytest.raises(RunUnavailableError, match="live process"):
        Pipeline("etl", pipeline_id=pipeline_id, **dirs)
    second = Pipeline("etl", resume=True, **dirs)
    assert not second.resumed
    first.close()


def _resume_and_hold(dirs, barrier, release, results) -> None:
    barrier.wait(60)
    p = Pipeline("etl", resume=True, **dirs)
    results.put((p.pipeline_id, p.resumed))
    release.wait(60)  # keep the run while the other process decides
    p.close()


def _continue_by_id(dirs, pipeline_id, results) -> None:
    try:
        Pipeline("etl", pipeline_id=pipeline_id, **dirs)
    except RunUnavailableError as error:
        results.put(("refused", error.reason))
    else:
        results.put(("taken", ""))


@pytest.mark.slow
def test_two_processes_resuming_at_once_never_both_take_the_run(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    for round_ in range(3):
        dirs = {
            "checkpoint_dir": str(tmp_path / f"ckpt{round_}"),
            "log_dir": str(tmp_path / "logs"),
        }
        pipeline_id = _failed_run(dirs)
        barrier, release, results = ctx.Barrier(2), ctx.Event(), ctx.Queue()
        procs = [
            ctx.Process(target=_resume_and_hold, args=(dirs, barrier, release, results))
            for _ in range(2)
        ]
        for proc in procs:
            proc.start()
        got = [results.get(timeout=60) for _ in procs]
        # While both still run: a third process asking for the run by id is refused.
        checker = ctx.Process(target=_continue_by_id, args=(dirs, pipeline_id, results))
        checker.start()
        checker.join(60)
        verdict = results.get(timeout=60)
        release.set()
        for proc in procs:
            proc.join(60)
            assert proc.exitcode == 0
        resumed = [pid for pid, was_resumed in got if was_resumed]
        assert resumed == [pipeline_id]
        assert verdict[0] == "refused"
        fresh = [pid for pid, was_resumed in got if not was_resumed]
        assert len(fresh) == 1 and fresh[0] != pipeline_id


def _killed_owner(dirs, pipeline_id, ready) -> None:
    import os
    import signal

    Pipeline("etl", pipeline_id=pipeline_id, **dirs)
    ready.set()
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_run_whose_owner_was_killed_can_be_continued(dirs):
    pipeline_id = _failed_run(dirs)
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=_killed_owner, args=(dirs, pipeline_id, ready))
    proc.start()
    proc.join(60)
    assert ready.is_set() and proc.exitcode == -9
    p = Pipeline("etl", resume=True, **dirs)
    assert p.pipeline_id == pipeline_id
    p.close()
