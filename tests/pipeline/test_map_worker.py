"""The worker side of a fan-out (one module's unit tests): commit once, records, progress.

Attempts of one item racing in separate processes, as Dask's at-least-once execution runs
them, must leave exactly one committed checkpoint.
"""

from __future__ import annotations

import functools
import io
import multiprocessing
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from checkpointing import CheckpointManager
from checkpointing.pipeline._map_progress import ProgressLine
from checkpointing.pipeline._map_worker import ItemOutcome, MapTask, run_item
from tests.pipeline import _map_fns as fns

ROOT = Path(__file__).resolve().parents[2]
PIPELINE_ID = "fan_20260101_000000_000000000000000000"


def _task(tmp_path: Path, fn: Any, **changes: Any) -> MapTask:
    options: dict[str, Any] = {
        "fn": fn,
        "pipeline_id": PIPELINE_ID,
        "stage": "fetch",
        "checkpoint_dir": str(tmp_path / "ckpt"),
        "compression": "snappy",
        "lock_timeout": 60.0,
        "storage_options": {},
        "unsafe_single_writer": False,
        "metadata": {"source": "test"},
        "collect": True,
        "driver_pid": os.getpid(),
        "log_level": 20,
    }
    return MapTask(**(options | changes))


def _complete(outcome: ItemOutcome) -> dict[str, Any]:
    (event,) = [e for e in outcome.events if e["event_type"] == "stage_complete"]
    return dict(event["metadata"])


def test_a_second_attempt_returns_the_first_attempts_commit_without_running(tmp_path):
    task = _task(tmp_path, functools.partial(fns.fetch, str(tmp_path)))
    first = run_item(task, "aapl", "aapl")
    second = run_item(task, "aapl", "aapl")
    assert first.error is None and second.error is None
    assert second.checkpoint_id == first.checkpoint_id
    assert _complete(second)["committed_earlier"] is True
    assert fns.calls(tmp_path) == {"aapl": 1}
    assert second.data.equals(first.data)
    state = CheckpointManager(tmp_path / "ckpt").get_state(str(first.checkpoint_id))
    assert state["metadata"] == {"source": "test", "key": "aapl"}


def _attempt(task: MapTask, queue: Any) -> None:
    outcome = run_item(task, "aapl", "aapl")
    queue.put((outcome.checkpoint_id, _complete(outcome)))


def test_racing_attempts_in_two_processes_commit_exactly_once(tmp_path):
    # Both attempts are inside the function (neither committed) before either may return.
    task = _task(tmp_path, functools.partial(fns.gated, str(tmp_path)), collect=False)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_attempt, args=(task, queue)) for _ in range(2)]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + 120
    while fns.calls(tmp_path).get("aapl", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    (tmp_path / "gate").touch()
    results = [queue.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=120)
    ids = {checkpoint_id for checkpoint_id, _ in results}
    assert len(ids) == 1 and None not in ids
    (kept,) = CheckpointManager(tmp_path / "ckpt").list_checkpoints(stage="fetch")
    assert kept["checkpoint_id"] in ids
    losers = [m for _, m in results if m.get("committed_by_another_attempt")]
    assert len(losers) == 1
    assert losers[0]["discarded_checkpoint"] not in ids


def test_an_items_failure_travels_back_with_its_traceback(tmp_path):
    task = _task(tmp_path, functools.partial(fns.fetch, str(tmp_path)), driver_pid=-1)
    outcome = run_item(task, "bad", "bad")
    assert isinstance(outcome.error, ValueError)
    assert outcome.traceback is not None and "_map_fns.py" in outcome.traceback
    assert outcome.checkpoint_id is None
    assert [e["event_type"] for e in outcome.events] == ["stage_start", "stage_error"]
    assert [r["msg"] for r in outcome.records] == ["fetching bad"]
    assert outcome.records[0]["key"] == "bad"


WORKER_LOGGING = textwrap.dedent(
    """
    import logging, sys, threading
    from checkpointing.pipeline._map_logs import capture

    inside = threading.Event()
    done = threading.Event()

    def item():
        with capture(logging.INFO) as buffer:
            logging.getLogger("user").info("from the item")
            inside.set()
            done.wait()
        print("captured:", [r["msg"] for r in buffer.result()], flush=True)

    thread = threading.Thread(target=item)
    thread.start()
    inside.wait()
    logging.getLogger("library").warning("from another thread")   # no handler: lastResort
    logging.getLogger("library").info("below the last resort's level")
    done.set()
    thread.join()
    print("root level:", logging.getLogger().level, "handlers:", logging.getLogger().handlers)
    """
)


def test_capturing_an_items_records_leaves_other_threads_logging_alone():
    run = subprocess.run(
        [sys.executable, "-c", WORKER_LOGGING],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert run.stdout.splitlines() == [
        "captured: ['from the item']",
        "root level: 30 handlers: []",
    ]
    assert run.stderr == "from another thread\n"


def test_the_progress_line_draws_only_when_asked_or_on_a_terminal():
    stream = io.StringIO()
    line = ProgressLine("fetch", 3, enabled=True, stream=stream)
    line.update(1, 0)
    line.update(3, 1)
    line.finish()
    text = stream.getvalue()
    assert "fetch: 3/3 items, 1 failed" in text
    assert text.endswith("\n")
    quiet = io.StringIO()
    auto = ProgressLine("fetch", 3, enabled=None, stream=quiet)  # StringIO is no terminal
    auto.update(3, 0)
    auto.finish()
    assert quiet.getvalue() == ""
