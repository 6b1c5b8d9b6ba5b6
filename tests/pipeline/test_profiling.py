"""Profiling: what stage_complete, checkpoint_saved and stage_restored say about their cost;
spans inside a stage; performance_metric only when asked for."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from checkpointing import InvalidNameError, Pipeline
from logging_ext import summarize_events
from tests.pipeline._helpers import events, frame

SAVE_PHASES = {"convert", "encode", "write", "hash", "fsync", "rename", "manifest", "registry"}


@pytest.fixture
def dirs(tmp_path):
    return {"checkpoint_dir": tmp_path / "ckpt", "log_dir": tmp_path / "logs"}


def _of(log_dir, pipeline_id, event_type):
    return [e for e in events(log_dir, pipeline_id) if e["event_type"] == event_type]


def test_stage_complete_carries_wall_cpu_and_rss(dirs):
    with Pipeline("etl", **dirs) as p, p.stage("work") as s:
        sum(range(10_000))
    (complete,) = _of(dirs["log_dir"], p.pipeline_id, "stage_complete")
    meta = complete["metadata"]
    assert meta["duration_seconds"] > 0
    assert meta["cpu_seconds"] >= 0 and meta["process_cpu_seconds"] >= 0
    assert isinstance(meta["peak_rss_growth_bytes"], int) and meta["peak_rss_growth_bytes"] >= 0
    assert "spans" not in meta  # a stage without spans writes no spans field
    assert s.measured is not None
    assert s.measured.duration_seconds == meta["duration_seconds"]


def test_peak_rss_growth_is_seen_in_a_fresh_process(tmp_path):
    # A child process starts with its parent's peak (Linux keeps ru_maxrss across fork and
    # exec), so the stage allocates beyond that peak to move it.
    script = textwrap.dedent(
        f"""
        import json, os, resource
        from checkpointing import Pipeline
        p = Pipeline("rss", checkpoint_dir={str(tmp_path / "c")!r}, log_dir={str(tmp_path / "l")!r})
        with p.stage("grow") as s:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            with open("/proc/self/statm") as statm:
                rss = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            block = bytearray(max(peak - rss, 0) + 96 * 2**20)
            block[:: 4096] = b"x" * len(block[:: 4096])  # touch every page
            del block
        with p.stage("flat") as t:
            pass
        print(json.dumps([s.measured.peak_rss_growth_bytes, t.measured.peak_rss_growth_bytes]))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    grown, flat = (int(v) for v in out.stdout.strip().strip("[]").split(","))
    assert grown >= 64 * 2**20, out.stdout
    assert flat == 0, out.stdout  # below the peak reached before it: the peak did not move


def test_performance_metric_is_opt_in(dirs):
    with Pipeline("etl", **dirs) as p, p.stage("a"):
        pass
    assert not _of(dirs["log_dir"], p.pipeline_id, "performance_metric")
    with Pipeline("etl", performance_events=True, **dirs) as q, q.stage("a"):
        pass
    (metric,) = _of(dirs["log_dir"], q.pipeline_id, "performance_metric")
    assert metric["metadata"]["duration_seconds"] > 0


def test_summary_durations_come_from_stage_complete(dirs):
    with Pipeline("etl", **dirs) as p, p.stage("a"):
        pass
    summary = summarize_events(p.pipeline_id, events(dirs["log_dir"], p.pipeline_id))
    assert set(summary["stage_durations"]) == {"a"}


def test_checkpoint_saved_carries_the_save_breakdown(dirs):
    with Pipeline("etl", **dirs) as p, p.stage("extract") as s:
        s.checkpoint(frame(250))
    (saved,) = _of(dirs["log_dir"], p.pipeline_id, "checkpoint_saved")
    timings = saved["metadata"]["timings_ms"]
    assert set(timings) == SAVE_PHASES
    assert all(isinstance(ms, float) and ms >= 0 for ms in timings.values())
    assert timings["fsync"] > 0 and timings["encode"] > 0
    assert saved["metadata"]["rows"] == 250


def test_stage_restored_carries_the_load_breakdown(dirs):
    with pytest.raises(RuntimeError), Pipeline("etl", **dirs) as p:
        with p.stage("extract") as s:
            s.checkpoint(frame(40))
        raise RuntimeError("stop")
    with Pipeline("etl", resume=True, **dirs) as q, q.stage("extract") as s:
        assert s.restored
    (restored,) = _of(dirs["log_dir"], q.pipeline_id, "stage_restored")
    timings = restored["metadata"]["timings_ms"]
    assert set(timings) == {"read", "verify", "decode"}
    assert timings["decode"] > 0


def test_spans_nest_and_are_written_on_stage_complete(dirs):
    with Pipeline("etl", **dirs) as p, p.stage("extract") as s:
        with s.span("download"):
            with s.span("parse"):
                pass
            with s.span("parse"):
                pass
        with pytest.raises(ValueError), s.span("upload"):
            raise ValueError("network")
    (complete,) = _of(dirs["log_dir"], p.pipeline_id, "stage_complete")
    spans = complete["metadata"]["spans"]
    assert [(x["name"], x["index"], x.get("parent")) for x in spans] == [
        ("download", 0, None),
        ("parse", 1, 0),
        ("parse", 2, 0),
        ("upload", 3, None),
    ]
    assert spans[3]["error_type"] == "ValueError"
    assert all(x["duration_seconds"] >= 0 and x["start_seconds"] >= 0 for x in spans)
    assert spans[1]["start_seconds"] >= spans[0]["start_seconds"]
    assert spans[0]["duration_seconds"] >= spans[1]["duration_seconds"]
    assert s.spans == tuple(spans)


def test_spans_are_written_on_stage_error(dirs):
    p = Pipeline("etl", **dirs)
    with pytest.raises(KeyError), p.stage("extract") as s, s.span("download"):
        raise KeyError("x")
    (error,) = _of(dirs["log_dir"], p.pipeline_id, "stage_error")
    (span,) = error["metadata"]["spans"]
    assert span["name"] == "download" and span["error_type"] == "KeyError"


@pytest.mark.parametrize("bad", ["", "a/b", "../x", ".hidden"])
def test_span_names_are_validated(dirs, bad):
    p = Pipeline("etl", **dirs)
    with p.stage("extract") as s, pytest.raises(InvalidNameError):
        s.span(bad)


def test_a_span_needs_a_running_stage_and_is_single_use(dirs):
    p = Pipeline("etl", **dirs)
    stage = p.stage("extract")
    with pytest.raises(RuntimeError, match="running stage"), stage.span("early"):
        pass
    with p.stage("other") as s:
        span = s.span("once")
        with span:
            pass
        with pytest.raises(RuntimeError, match="already entered"), span:
            pass
    with pytest.raises(RuntimeError, match="running stage"), s.span("late"):
        pass


def test_a_cache_hit_carries_the_load_breakdown(dirs):
    for _ in range(2):
        with Pipeline("etl", **dirs) as p, p.stage("extract", cache=True, inputs=[1]) as s:
            if not s.restored:
                s.checkpoint(frame(10))
    assert s.restored
    (restored,) = _of(dirs["log_dir"], p.pipeline_id, "stage_restored")
    assert restored["metadata"]["cache_hit"] is True
    assert set(restored["metadata"]["timings_ms"]) == {"read", "verify", "decode"}
