"""Threads, asyncio tasks and real processes running pipelines side by side."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import multiprocessing
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from checkpointing import CheckpointManager, Pipeline
from tests.pipeline._helpers import events, frame, read_lines, record_of

STAGES = ("extract", "transform", "load")


def _run_pipeline(tag: str, checkpoint_dir: str, log_dir: str) -> str:
    user = logging.getLogger(f"app.{tag}")
    p = Pipeline("etl", checkpoint_dir=checkpoint_dir, log_dir=log_dir)
    with p:
        for stage in STAGES:
            with p.stage(stage) as s:
                user.info("%s|%s|%s", tag, stage, p.pipeline_id)
                if stage != "load":
                    s.checkpoint(frame(10, seed=len(tag)))
    return p.pipeline_id


def _check_user_records(log_dir, expected_runs: int) -> None:
    mine = [r for r in read_lines(log_dir / "pipeline.log") if r.get("message", "").count("|") == 2]
    assert len(mine) == expected_runs * len(STAGES)
    for record in mine:
        _tag, stage, pipeline_id = record["message"].split("|")
        assert record["stage"] == stage
        assert record["pipeline_id"] == pipeline_id


def _check_runs(checkpoint_dir, log_dir, ids) -> None:
    assert len(set(ids)) == len(ids)
    manager = CheckpointManager(checkpoint_dir)
    all_checkpoints = manager.list_checkpoints()
    assert len(all_checkpoints) == 2 * len(ids)
    assert len({c["checkpoint_id"] for c in all_checkpoints}) == len(all_checkpoints)
    per_run = Counter(c["pipeline_id"] for c in all_checkpoints)
    assert per_run == dict.fromkeys(ids, 2)
    for pipeline_id in ids:
        got = Counter(e["event_type"] for e in events(log_dir, pipeline_id))
        assert got == {
            "pipeline_start": 1,
            "pipeline_complete": 1,
            "stage_start": 3,
            "stage_complete": 3,
            "checkpoint_saved": 2,
        }


def test_pipelines_in_threads_keep_their_records_apart(tmp_path):
    ckpt, logs = tmp_path / "ckpt", tmp_path / "logs"
    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = list(
            pool.map(lambda t: _run_pipeline(t, str(ckpt), str(logs)), ["a", "bb", "ccc", "dddd"])
        )
    _check_runs(ckpt, logs, ids)
    _check_user_records(logs, 4)


def test_threads_started_with_copied_context_inherit_the_stage(tmp_path):
    logs = tmp_path / "logs"
    user = logging.getLogger("app.worker")
    p = Pipeline("etl", checkpoint_dir=tmp_path / "ckpt", log_dir=logs)
    with p.stage("fan_out"):
        threads = [
            threading.Thread(
                target=contextvars.copy_context().run, args=(user.info, "worker %d", i)
            )
            for i in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    workers = [
        r for r in read_lines(logs / "pipeline.log") if r.get("message", "").startswith("worker ")
    ]
    assert len(workers) == 4
    assert {(r["pipeline_id"], r["stage"]) for r in workers} == {(p.pipeline_id, "fan_out")}


def test_asyncio_tasks_keep_their_stages_apart(tmp_path):
    logs = tmp_path / "logs"
    user = logging.getLogger("app.async")
    p = Pipeline("etl", checkpoint_dir=tmp_path / "ckpt", log_dir=logs)

    async def work(stage: str) -> None:
        async with p.stage(stage) as s:
            for i in range(5):
                user.info("%s|%s|%s", stage, stage, p.pipeline_id)
                await asyncio.sleep(0)
                assert s.name == stage
                del i
            s.checkpoint(frame(5))

    async def main() -> None:
        async with p:
            await asyncio.gather(*(work(f"task{i}") for i in range(4)))

    asyncio.run(main())
    mine = [r for r in read_lines(logs / "pipeline.log") if r.get("message", "").count("|") == 2]
    assert len(mine) == 20
    assert all(r["stage"] == r["message"].split("|")[0] for r in mine)
    got = Counter(e["event_type"] for e in events(logs, p.pipeline_id))
    assert got["stage_complete"] == 4 and got["checkpoint_saved"] == 4
    assert len(record_of(p)["stages"]) == 4


def test_processes_sharing_directories_lose_and_mix_nothing(tmp_path):
    ckpt, logs = tmp_path / "ckpt", tmp_path / "logs"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(3) as pool:
        ids = pool.starmap(_run_pipeline, [(f"p{i}", str(ckpt), str(logs)) for i in range(6)])
    _check_runs(ckpt, logs, ids)
    _check_user_records(logs, 6)
