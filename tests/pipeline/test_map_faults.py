"""Faults of a fan-out with real processes: unpicklable tasks, killed workers and drivers,
Ctrl-C, fail-fast, and what ``import checkpointing`` does not pull in."""

from __future__ import annotations

import dataclasses
import functools
import json
import multiprocessing
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from checkpointing import CheckpointManager, MapError, NotPicklableError, Pipeline
from tests.pipeline import _map_fns as fns
from tests.pipeline._helpers import events, record_of

ROOT = Path(__file__).resolve().parents[2]


def _pipeline(tmp_path: Path, **options: Any) -> Pipeline:
    return Pipeline("fan", checkpoint_dir=tmp_path / "ckpt", log_dir=tmp_path / "logs", **options)


def _checkpoints_of(tmp_path: Path, stage: str) -> list[dict[str, Any]]:
    return CheckpointManager(tmp_path / "ckpt").list_checkpoints(stage=stage)


@pytest.mark.parametrize("kind", ["process-pool", "dask"])
def test_an_unpicklable_function_is_refused_before_anything_runs(tmp_path, kind, request):
    executor = request.getfixturevalue("spawn_pool" if kind == "process-pool" else "dask_client")
    lock = threading.Lock()
    fn = functools.partial(fns.locked, lock)
    with _pipeline(tmp_path) as p, pytest.raises(NotPicklableError) as caught:
        p.map("fetch", fn, ["a", "b"], executor=executor)
    assert caught.value.what == "the function"
    assert "lock" in caught.value.reason
    assert "module level" in str(caught.value)
    started = [
        e for e in events(tmp_path / "logs") if e["event_type"] in ("stage_start", "map_start")
    ]
    assert started == []
    assert _checkpoints_of(tmp_path, "fetch") == []


def test_a_lambda_is_refused_for_a_process_pool_with_the_item_named(tmp_path, spawn_pool):
    with _pipeline(tmp_path) as p:
        with pytest.raises(NotPicklableError, match="the function"):
            p.map("fetch", lambda key: fns.frame_of(key, rows=1), ["a"], executor=spawn_pool)
        fn = functools.partial(fns.fetch, str(tmp_path))
        with pytest.raises(NotPicklableError, match="item 'b'"):
            p.map("fetch", fn, ["a", threading.Lock()], key=lambda i: "a" if i == "a" else "b",
                  executor=spawn_pool)  # fmt: skip
    assert fns.calls(tmp_path) == {}


def test_a_dask_worker_killed_mid_task_reruns_it_and_commits_it_once(tmp_path, dask_client):
    keys = ["a", "die1", "b", "c"]
    with _pipeline(tmp_path) as p:
        ids = p.map("fetch", functools.partial(fns.kill_once, str(tmp_path)), keys,
                    executor=dask_client, collect=False)  # fmt: skip
        entries = record_of(p)["stages"]
    assert fns.calls(tmp_path)["die1"] == 2  # the task ran again on another worker
    assert sorted(c["checkpoint_id"] for c in _checkpoints_of(tmp_path, "fetch")) == sorted(ids)
    assert sorted(e["key"] for e in entries) == sorted(keys)
    assert p.load("fetch", "die1")["key"].tolist() == ["die1"] * 3


def test_a_pool_worker_killed_mid_task_fails_the_item_and_resume_commits_it_once(tmp_path):
    keys = ["a", "die1", "b"]
    fn = functools.partial(fns.kill_once, str(tmp_path))
    spawn = multiprocessing.get_context("spawn")
    p = _pipeline(tmp_path)
    with ProcessPoolExecutor(1, mp_context=spawn) as pool, pytest.raises(MapError) as caught, p:
        p.map("fetch", fn, keys, executor=pool)
    assert "die1" in caught.value.failed  # a broken pool loses its pending tasks too
    with ProcessPoolExecutor(1, mp_context=spawn) as pool, _pipeline(tmp_path, resume=True) as q:
        frames = q.map("fetch", fn, keys, executor=pool)
    assert [f["key"].iloc[0] for f in frames] == keys
    assert len(_checkpoints_of(tmp_path, "fetch")) == len(keys)
    assert fns.calls(tmp_path)["die1"] == 2


def test_a_driver_killed_before_recording_items_restores_them_from_their_commits(tmp_path):
    driver = subprocess.run(
        [sys.executable, "-m", "tests.pipeline._map_driver", "die", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert driver.returncode == -signal.SIGKILL, driver.stderr
    pipeline_id = driver.stdout.split()[0]
    record = json.loads((tmp_path / "ckpt" / "runs" / f"{pipeline_id}.json").read_text())
    assert record["stages"] == []  # the workers committed a and b; the record never said so
    fn = functools.partial(fns.kill_once, str(tmp_path))
    with _pipeline(tmp_path, resume=True) as p:
        assert p.pipeline_id == pipeline_id
        frames = p.map("fetch", fn, ["a", "b", "die"])
    assert [f["key"].iloc[0] for f in frames] == ["a", "b", "die"]
    assert fns.calls(tmp_path) == {"a": 1, "b": 1, "die": 2}
    assert {e["key"] for e in record_of(p)["stages"]} == {"a", "b", "die"}
    assert len(_checkpoints_of(tmp_path, "fetch")) == 3


@pytest.mark.parametrize("kind", ["process-pool", "dask"])
def test_ctrl_c_cancels_the_tasks_not_started(tmp_path, kind, request):
    args = [sys.executable, "-m", "tests.pipeline._map_driver", "interrupt", str(tmp_path), kind]
    if kind == "dask":
        args.append(request.getfixturevalue("dask_client").scheduler.address)
    driver = subprocess.Popen(
        args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while not fns.calls(tmp_path) and driver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        driver.send_signal(signal.SIGINT)
        out, err = driver.communicate(timeout=120)
    finally:
        driver.kill()
    assert driver.returncode == 0, err
    pipeline_id, outcome = out.split("\n")[:2]
    assert json.loads(outcome) == {"interrupted": True}
    ran = fns.calls(tmp_path)
    assert 0 < len(ran) < 6  # the running items finished; the others never started
    (summary,) = [
        e for e in events(tmp_path / "logs", pipeline_id) if e["event_type"] == "map_complete"
    ]
    assert summary["metadata"]["interrupted"] is True
    assert summary["metadata"]["not_run"] >= 6 - len(ran)


def test_an_interrupt_in_process_stops_before_the_next_item(tmp_path):
    fn = functools.partial(fns.interrupt_at, str(tmp_path))
    p = _pipeline(tmp_path)
    with pytest.raises(KeyboardInterrupt), p:
        p.map("fetch", fn, ["a", "stop", "b", "c"])
    assert fns.calls(tmp_path) == {"a": 1, "stop": 1}
    assert record_of(p)["status"] == "failed"
    assert [e["key"] for e in record_of(p)["stages"]] == ["a"]


def test_fail_fast_stops_at_the_first_failure(tmp_path):
    fn = functools.partial(fns.fetch, str(tmp_path))
    with _pipeline(tmp_path) as p, pytest.raises(MapError) as caught:
        p.map("fetch", fn, ["a", "bad", "b", "c"], fail_fast=True)
    assert (caught.value.failed, caught.value.not_run) == (("bad",), ("b", "c"))
    assert fns.calls(tmp_path) == {"a": 1, "bad": 1}
    with pytest.raises(MapError, match="1 of 4 items"):
        raise caught.value


def test_importing_checkpointing_imports_no_dask():
    code = (
        "import sys, checkpointing\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"


class _OtherDiskExecutor(ThreadPoolExecutor):
    """Runs each task as a worker on another machine would if it had its own, unshared disk
    at the checkpoint directory's path: the task writes to another directory."""

    def __init__(self, other: Path) -> None:
        super().__init__(1)
        self.other = other

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        task = dataclasses.replace(fn.args[0], checkpoint_dir=str(self.other))
        return super().submit(functools.partial(fn.func, task), *args, **kwargs)


def test_a_checkpoint_the_driver_cannot_see_fails_its_item_with_a_clear_error(tmp_path):
    fn = functools.partial(fns.fetch, str(tmp_path))
    with (
        _OtherDiskExecutor(tmp_path / "elsewhere") as executor,
        _pipeline(tmp_path) as p,
        pytest.raises(MapError) as caught,
    ):
        p.map("fetch", fn, ["a"], executor=executor)
    assert caught.value.failed == ("a",)
    notes = "\n".join(getattr(caught.value.__cause__, "__notes__", []))
    assert "every worker must reach the checkpoint directory at the same path" in notes
    assert record_of(p)["stages"] == []
