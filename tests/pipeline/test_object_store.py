"""Pipelines whose ``checkpoint_dir`` is an object store: S3 served by moto on 127.0.0.1.

The same runs as on a local directory, with nothing changed but the URL: resume, run claims
that expire by lease time instead of by process, and a fan-out whose Dask workers save their
items straight into the bucket.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from checkpointing import CheckpointManager, MapError, Pipeline, RunUnavailableError
from tests.pipeline import _map_fns as fns
from tests.pipeline._helpers import events, frame, record_of

SPAWN = multiprocessing.get_context("spawn")
KEYS = ["msft", "aapl", "goog"]


def s3_options(endpoint: str, **extra: Any) -> dict[str, Any]:
    """obstore's configuration of the test server, for processes that did not inherit it."""
    return {
        "endpoint": endpoint,
        "access_key_id": "testing",
        "secret_access_key": "testing",
        "region": "us-east-1",
        "client_options": {"allow_http": True},
        **extra,
    }


def test_a_failed_run_on_s3_resumes_and_restores_its_stages(s3_url: str, tmp_path: Path) -> None:
    dirs: dict[str, Any] = {"checkpoint_dir": s3_url, "log_dir": tmp_path / "logs"}
    p = Pipeline("etl", **dirs)
    with pytest.raises(RuntimeError, match="database is down"), p:
        with p.stage("extract") as s:
            s.checkpoint(frame(30, seed=2))
        with p.stage("load"):
            raise RuntimeError("database is down")
    assert record_of(p)["status"] == "failed"

    again = Pipeline("etl", resume=True, **dirs)
    assert again.resumed and again.pipeline_id == p.pipeline_id
    with again:
        with again.stage("extract") as s:
            assert s.restored
            pd.testing.assert_frame_equal(s.data, frame(30, seed=2))
        with again.stage("load"):
            pass
    assert record_of(again)["status"] == "complete"
    start = [
        e for e in events(tmp_path / "logs", p.pipeline_id) if e["event_type"] == "pipeline_start"
    ]
    assert start[0]["metadata"]["checkpoint_dir"] == s3_url  # the events name the store
    manager = CheckpointManager(s3_url)
    assert [e["stage"] for e in manager.list_checkpoints(p.pipeline_id)] == ["extract"]
    assert not (tmp_path / "s3:").exists()


def _failed_run(
    s3_url: str, endpoint: str, tmp_path: Path, *, lease: float
) -> tuple[dict[str, Any], Pipeline]:
    """A run on S3 whose first stage failed, and the options that reach it."""
    dirs: dict[str, Any] = {
        "checkpoint_dir": s3_url,
        "log_dir": tmp_path / "logs",
        "storage_options": s3_options(endpoint, lease_seconds=lease),
    }
    p = Pipeline("etl", **dirs)
    with pytest.raises(RuntimeError), p, p.stage("extract"):
        raise RuntimeError("boom")
    return dirs, p


def _hold_run(url: str, options: dict[str, Any], pipeline_id: str, logs: str, ready: Any) -> None:
    Pipeline(
        "etl", checkpoint_dir=url, log_dir=logs, pipeline_id=pipeline_id, storage_options=options
    )
    ready.set()
    signal.pause()


def test_a_killed_runs_claim_expires_by_lease_time(
    s3_url: str, s3_endpoint: str, tmp_path: Path
) -> None:
    dirs, p = _failed_run(s3_url, s3_endpoint, tmp_path, lease=2)
    options = dirs["storage_options"]
    ready = SPAWN.Event()
    holder = SPAWN.Process(
        target=_hold_run, args=(s3_url, options, p.pipeline_id, str(tmp_path / "logs"), ready)
    )
    holder.start()
    assert ready.wait(120)
    with pytest.raises(RunUnavailableError, match="live process"):
        Pipeline("etl", pipeline_id=p.pipeline_id, **dirs)
    holder.kill()
    holder.join(60)
    deadline = time.monotonic() + 60
    while True:
        try:
            taken = Pipeline("etl", pipeline_id=p.pipeline_id, **dirs)
            break
        except RunUnavailableError:
            assert time.monotonic() < deadline, "the killed run's claim never expired"
            time.sleep(0.5)
    assert taken.resumed
    taken.close()


def _stall_then_write(
    url: str, options: dict[str, Any], pipeline_id: str, logs: str, ready: Any, go: Any, out: Any
) -> None:
    p = Pipeline(
        "etl", checkpoint_dir=url, log_dir=logs, pipeline_id=pipeline_id, storage_options=options
    )
    ready.set()
    go.wait(120)  # the parent stops this process (SIGSTOP) before it sets go
    try:
        with p.stage("late") as s:
            s.checkpoint(frame(5))
    except RunUnavailableError as error:
        out.put(("refused", error.reason))
    else:
        out.put(("written", ""))


def test_a_stalled_owner_whose_run_was_taken_over_cannot_overwrite_its_record(
    s3_url: str, s3_endpoint: str, tmp_path: Path
) -> None:
    dirs, p = _failed_run(s3_url, s3_endpoint, tmp_path, lease=1)
    options = dirs["storage_options"]
    ready, go, out = SPAWN.Event(), SPAWN.Event(), SPAWN.Queue()
    stalled = SPAWN.Process(
        target=_stall_then_write,
        args=(s3_url, options, p.pipeline_id, str(tmp_path / "logs"), ready, go, out),
    )
    stalled.start()
    assert ready.wait(120)
    os.kill(stalled.pid or 0, signal.SIGSTOP)  # a stall longer than its lease: GC, swap, VM pause
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                new_owner = Pipeline("etl", pipeline_id=p.pipeline_id, **dirs)
                break
            except RunUnavailableError:
                assert time.monotonic() < deadline, "the stalled run's claim never expired"
                time.sleep(0.5)
        with new_owner.stage("extract") as s:
            s.checkpoint(frame(5))
    finally:
        os.kill(stalled.pid or 0, signal.SIGCONT)
    go.set()
    assert out.get(timeout=120) == ("refused", "another process took it over (its record changed)")
    stalled.join(60)
    new_owner.close()
    storage = CheckpointManager(s3_url, storage_options=options).storage
    stored = storage.read_json(f"runs/{p.pipeline_id}.json")
    assert [e["stage"] for e in stored["stages"]] == ["extract"]
    assert stored["status"] == "complete"


def test_dask_workers_save_items_into_the_bucket_and_resume_reruns_only_failures(
    s3_url: str, s3_endpoint: str, tmp_path: Path, dask_client: Any
) -> None:
    keys = ["aapl", "bad1", "msft"]
    fn = functools.partial(fns.fetch, str(tmp_path))
    options = s3_options(s3_endpoint)
    dirs: dict[str, Any] = {
        "checkpoint_dir": s3_url,
        "log_dir": tmp_path / "logs",
        "storage_options": options,
    }
    p = Pipeline("fan", **dirs)
    with pytest.raises(MapError) as caught, p:
        p.map("fetch", fn, keys, executor=dask_client)
    assert caught.value.failed == ("bad1",)
    manager = CheckpointManager(s3_url, storage_options=options)
    saved = manager.list_checkpoints(p.pipeline_id)
    assert len(saved) == 2
    assert os.getpid() not in {int(manager.get_state(e["checkpoint_id"])["pid"]) for e in saved}

    (tmp_path / "fixed").touch()
    with Pipeline("fan", resume=True, **dirs) as again:
        frames = again.map("fetch", fn, keys, executor=dask_client)
    assert [f["key"].iloc[0] for f in frames] == keys
    assert fns.calls(tmp_path) == {"aapl": 1, "bad1": 2, "msft": 1}
    assert len(manager.list_checkpoints(p.pipeline_id)) == 3  # each item committed once
