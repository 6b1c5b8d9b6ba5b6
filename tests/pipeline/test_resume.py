"""Resume: a failed or killed run continues; restored stages skip work; damaged checkpoints."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from checkpointing import Pipeline, RunNotFoundError
from tests.pipeline._helpers import events, frame, record_of

ROOT = Path(__file__).resolve().parents[2]
FAILING_RUN = textwrap.dedent(
    """
    import os, signal, sys
    from checkpointing import Pipeline
    from tests.pipeline._helpers import frame, record_of

    ckpt, logs, how = sys.argv[1:4]
    p = Pipeline("etl", checkpoint_dir=ckpt, log_dir=logs)
    print(p.pipeline_id, flush=True)
    with p:
        with p.stage("extract") as s:
            s.checkpoint(frame(30, seed=1))
            s.checkpoint(frame(30, seed=2))
        with p.stage("transform") as s:
            s.checkpoint(frame(20, seed=3))
        with p.stage("load"):
            if how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError("database is down")
    """
)


def _fail_in_subprocess(tmp_path, how: str) -> str:
    ckpt, logs = tmp_path / "ckpt", tmp_path / "logs"
    proc = subprocess.run(
        [sys.executable, "-c", FAILING_RUN, str(ckpt), str(logs), how],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode != 0, proc.stderr
    return proc.stdout.split()[0]


@pytest.fixture
def dirs(tmp_path):
    return {"checkpoint_dir": tmp_path / "ckpt", "log_dir": tmp_path / "logs"}


def _run_all(p, calls):
    with p:
        with p.stage("extract") as s:
            if not s.restored:
                calls.append("extract")
                s.checkpoint(frame(30, seed=2))
            extracted = s.data
        with p.stage("transform") as s:
            if not s.restored:
                calls.append("transform")
                s.checkpoint(frame(20, seed=3))
            transformed = s.data
        with p.stage("load") as s:
            calls.append("load")
    return extracted, transformed


@pytest.mark.parametrize("how", ["raise", "kill"])
def test_failed_run_resumes_and_skips_restored_stages(tmp_path, dirs, how):
    failed_id = _fail_in_subprocess(tmp_path, how)
    p = Pipeline("etl", resume=True, **dirs)
    assert p.pipeline_id == failed_id and p.resumed
    calls: list[str] = []
    extracted, transformed = _run_all(p, calls)
    assert calls == ["load"]
    pd.testing.assert_frame_equal(extracted, frame(30, seed=2))
    pd.testing.assert_frame_equal(transformed, frame(20, seed=3))
    evs = events(dirs["log_dir"], failed_id)
    start = [e for e in evs if e["event_type"] == "pipeline_start"][-1]
    assert start["metadata"]["resumed"] is True
    assert failed_id in start["metadata"]["reason"]
    restored = [e for e in evs if e["event_type"] == "stage_restored"]
    assert [e["stage"] for e in restored] == ["extract", "transform"]
    assert restored[0]["metadata"]["reason"].startswith("restored from checkpoint ")
    rerun = [e for e in evs if e["event_type"] == "stage_rerun"]
    assert [(e["stage"], e["metadata"]["reason"]) for e in rerun] == [("load", "no checkpoint")]
    complete = [e for e in evs if e["event_type"] == "stage_complete" and e["stage"] == "extract"]
    assert complete[-1]["metadata"]["restored"] is True
    assert record_of(p)["status"] == "complete" and record_of(p)["attempts"] == 2
    # Completed now: nothing left to resume.
    assert not Pipeline("etl", resume=True, **dirs).resumed


def test_resume_without_anything_starts_a_new_run(dirs):
    p = Pipeline("etl", resume=True, **dirs)
    assert not p.resumed
    with p:
        pass
    start = events(dirs["log_dir"], p.pipeline_id)[0]
    assert start["metadata"]["reason"] == "nothing to resume: new run"


def test_resume_by_id(tmp_path, dirs):
    failed_id = _fail_in_subprocess(tmp_path, "raise")
    newer = Pipeline("etl", **dirs)
    with newer:  # a later complete run does not matter when the id is given
        pass
    p = Pipeline("etl", pipeline_id=failed_id, **dirs)
    calls: list[str] = []
    _run_all(p, calls)
    assert calls == ["load"]


def test_unknown_or_foreign_id_is_a_clear_error(tmp_path, dirs):
    with pytest.raises(RunNotFoundError, match="etl_20200101_000000_000000abcdef"):
        Pipeline("etl", pipeline_id="etl_20200101_000000_000000abcdef", **dirs)
    failed_id = _fail_in_subprocess(tmp_path, "raise")
    with pytest.raises(ValueError, match="belongs to pipeline 'etl'"):
        Pipeline("other", pipeline_id=failed_id, **dirs)


def _damage(checkpoint_dir, checkpoint_id):
    path = checkpoint_dir / f"{checkpoint_id}.parquet"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 3] ^= 0xFF
    path.write_bytes(bytes(raw))


def test_damaged_checkpoint_falls_back_to_the_previous_good_one(tmp_path, dirs):
    failed_id = _fail_in_subprocess(tmp_path, "raise")
    record = json.loads((dirs["checkpoint_dir"] / "runs" / f"{failed_id}.json").read_text())
    older, newest = record["stages"][0]["checkpoint_ids"]
    _damage(dirs["checkpoint_dir"], newest)
    p = Pipeline("etl", resume=True, **dirs)
    with p, p.stage("extract") as s:
        assert s.restored and s.restored_from == older
        pd.testing.assert_frame_equal(s.data, frame(30, seed=1))
    assert "failed verification" in s.reason and newest in s.reason
    restored = [
        e for e in events(dirs["log_dir"], failed_id) if e["event_type"] == "stage_restored"
    ]
    assert restored[-1]["status"] == "warning"
    assert "failed verification" in restored[-1]["metadata"]["reason"]


def test_all_checkpoints_damaged_reruns_and_says_why(tmp_path, dirs):
    failed_id = _fail_in_subprocess(tmp_path, "raise")
    record = json.loads((dirs["checkpoint_dir"] / "runs" / f"{failed_id}.json").read_text())
    for checkpoint_id in record["stages"][1]["checkpoint_ids"]:
        _damage(dirs["checkpoint_dir"], checkpoint_id)
    p = Pipeline("etl", resume=True, **dirs)
    with p, p.stage("transform") as s:
        assert not s.restored
        assert s.reason.startswith("checkpoint ") and "failed verification" in s.reason
        s.checkpoint(frame(20, seed=3))
    rerun = [e for e in events(dirs["log_dir"], failed_id) if e["event_type"] == "stage_rerun"]
    assert (
        rerun[-1]["stage"] == "transform"
        and "failed verification" in rerun[-1]["metadata"]["reason"]
    )


def test_run_stage_and_step_skip_by_themselves(dirs):
    calls: list[str] = []

    def extract(n):
        calls.append("extract")
        return frame(n)

    def build(p):
        @p.step("transform")
        def transform(df):
            calls.append("transform")
            return df.assign(double=df["close"] * 2)

        @p.step
        def load(df):
            calls.append("load")
            if len(calls) < 4:
                raise ConnectionError("down")
            return len(df)

        return transform, load

    first = Pipeline("etl", **dirs)
    transform, load = build(first)
    with pytest.raises(ConnectionError), first:
        load(transform(first.run_stage("extract", extract, 10)))
    assert calls == ["extract", "transform", "load"]

    again = Pipeline("etl", resume=True, **dirs)
    transform, load = build(again)
    with again:
        result = load(transform(again.run_stage("extract", extract, 10)))
    assert result == 10
    assert calls == ["extract", "transform", "load", "load"]


def test_async_step_skips_on_resume(dirs):
    import asyncio

    calls = []

    def build(p):
        @p.step("extract")
        async def extract():
            calls.append("extract")
            return frame(5)

        return extract

    first = Pipeline("etl", **dirs)
    extract = build(first)
    asyncio.run(extract())
    with pytest.raises(RuntimeError), first.stage("load"):
        raise RuntimeError("load failed")
    first.close()  # ends the run as failed, so it can be continued
    again = Pipeline("etl", pipeline_id=first.pipeline_id, **dirs)
    df = asyncio.run(build(again)())
    assert calls == ["extract"]
    pd.testing.assert_frame_equal(df, frame(5))
