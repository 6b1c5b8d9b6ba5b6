"""Reading events back: filters, the time window, rotated files and summaries."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from logging_ext import PipelineLogger, event_files, iso_timestamp, read_events, summarize_events


def _event(when: float, pipeline_id: str, event_type: str = "tick", **extra) -> str:
    event = {
        "timestamp": iso_timestamp(when),
        "event_type": event_type,
        "pipeline_id": pipeline_id,
        "stage": extra.pop("stage", "s"),
        "status": extra.pop("status", "success"),
        "metadata": extra,
    }
    return json.dumps(event) + "\n"


def _write(path: Path, lines: list[str], mtime: float | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines))
    if mtime is not None:
        os.utime(path, (mtime, mtime))


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    now = time.time()
    events = tmp_path / "events"
    _write(
        events / "events.log.2020-01-01",
        [_event(now - 10 * 86400, "old")],
        mtime=now - 10 * 86400,
    )
    _write(
        events / "events.log.2020-01-02",
        [_event(now - 7200, "a", n=1), _event(now - 7100, "b", n=2)],
        mtime=now - 7100,
    )
    _write(
        events / "events.log",
        [
            _event(now - 60, "a", event_type="stage_start", n=3),
            '{"torn": \n',
            "not json at all\n",
            _event(now - 30, "a", n=4, note='"pipeline_id": "b"'),
            _event(now - 20, 'quote"d', n=5),
        ],
    )
    return tmp_path


def test_all_events_oldest_first(log_dir: Path) -> None:
    got = [e["pipeline_id"] for e in read_events(log_dir)]
    assert got == ["old", "a", "b", "a", "a", 'quote"d']


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"pipeline_id": "a"}, [1, 3, 4]),
        ({"pipeline_id": "b"}, [2]),  # a metadata value spelling "pipeline_id": "b" is not a match
        ({"pipeline_id": 'quote"d'}, [5]),
        ({"event_type": "stage_start"}, [3]),
        ({"pipeline_id": "a", "event_type": "tick"}, [1, 4]),
        ({"pipeline_id": "nobody"}, []),
    ],
)
def test_filters_are_exact(log_dir: Path, kwargs, expected) -> None:
    assert [e["metadata"]["n"] for e in read_events(log_dir, **kwargs)] == expected


def test_time_window(log_dir: Path) -> None:
    now = time.time()
    assert [e["metadata"]["n"] for e in read_events(log_dir, since=now - 3600)] == [3, 4, 5]
    window = read_events(log_dir, since=now - 8000, until=now - 45)
    assert [e["metadata"]["n"] for e in window] == [1, 2, 3]


def test_rotated_files_wholly_before_the_window_are_not_read(log_dir: Path) -> None:
    now = time.time()
    names = [p.name for p in event_files(log_dir, since=now - 3600)]
    assert names == ["events.log"]
    names = [p.name for p in event_files(log_dir, since=now - 86400)]
    assert names == ["events.log.2020-01-02", "events.log"]


def test_a_missing_directory_has_no_events(tmp_path: Path) -> None:
    assert read_events(tmp_path / "nothing") == []


def test_get_recent_events_reads_what_the_logger_wrote(tmp_path: Path) -> None:
    with PipelineLogger(tmp_path / "logs") as logger:
        logger.log_stage_start("run1", "extract")
        logger.log_stage_start("run2", "extract")
        logger.log_stage_complete("run1", "extract")
        recent = logger.get_recent_events(pipeline_id="run1")
        assert [e["event_type"] for e in recent] == ["stage_start", "stage_complete"]
        assert len(logger.get_recent_events(hours=None)) == 3
        assert logger.get_recent_events(event_type="stage_complete")[0]["pipeline_id"] == "run1"


def test_summary_of_a_run(tmp_path: Path) -> None:
    with PipelineLogger(tmp_path / "logs") as logger:
        logger.log_event("pipeline_start", "run1")
        for stage in ("extract", "transform"):
            logger.log_stage_start("run1", stage)
            logger.log_checkpoint("run1", stage, f"ckpt-{stage}")
            logger.log_stage_complete("run1", stage)
            logger.log_performance("run1", stage, 1.5)
        logger.log_event("data_quality_check", "run1", "transform", "warning", {"nulls": 3})
        logger.log_stage_start("run1", "load")
        logger.log_stage_error("run1", "load", ConnectionError("db down"))
        logger.log_event("pipeline_complete", "run1", status="error")
        summary = logger.get_pipeline_summary("run1")
    assert summary["total_events"] == 13
    assert summary["stages_completed"] == ["extract", "transform"]
    assert summary["stages_failed"] == ["load"]
    assert summary["checkpoints"] == ["ckpt-extract", "ckpt-transform"]
    assert summary["stage_durations"] == {"extract": 1.5, "transform": 1.5}
    assert [(e["stage"], e["error"]) for e in summary["errors"]] == [("load", "db down")]
    assert summary["warnings"][0]["metadata"] == {"nulls": 3}
    assert summary["event_counts"]["stage_start"] == 3
    assert summary["status"] == "error"
    assert summary["duration_seconds"] >= 0


@pytest.mark.parametrize(
    ("types", "status"),
    [([], "unknown"), (["stage_start"], "running"), (["stage_start", "stage_error"], "failed")],
)
def test_summary_status_without_pipeline_complete(types: list[str], status: str) -> None:
    events = [
        json.loads(_event(1000.0 + i, "p", t, status="error" if t == "stage_error" else "info"))
        for i, t in enumerate(types)
    ]
    assert summarize_events("p", events)["status"] == status


def _two_attempts(logger: PipelineLogger) -> None:
    logger.log_event("pipeline_start", "run1", metadata={"attempt": 1})
    logger.log_stage_start("run1", "extract")
    logger.log_stage_complete("run1", "extract")
    logger.log_stage_start("run1", "load")
    logger.log_stage_error("run1", "load", ConnectionError("db down"))
    logger.log_event("pipeline_complete", "run1", status="error")
    logger.log_event("pipeline_start", "run1", metadata={"attempt": 2, "resumed": True})
    logger.log_stage_start("run1", "load")
    logger.log_stage_complete("run1", "load")
    logger.log_event("pipeline_complete", "run1", status="success")


def test_summary_of_a_resumed_run_does_not_mix_its_attempts(tmp_path: Path) -> None:
    with PipelineLogger(tmp_path / "logs") as logger:
        _two_attempts(logger)
        latest = logger.get_pipeline_summary("run1")
    events = read_events(tmp_path / "logs", pipeline_id="run1")
    first = summarize_events("run1", events, attempt=1)
    assert (latest["attempt"], latest["attempts"]) == (2, 2)
    assert latest["status"] == "success"
    assert latest["errors"] == []  # the first attempt's error is not this attempt's
    assert latest["stages_completed"] == ["load"]
    assert latest["total_events"] == 4
    assert first["status"] == "error"
    assert [e["error"] for e in first["errors"]] == ["db down"]
    with pytest.raises(ValueError, match="has 2 attempt"):
        summarize_events("run1", events, attempt=3)


def test_summary_cli_chooses_the_attempt_and_accepts_a_prefix(tmp_path: Path, capsys) -> None:
    from logging_ext import main

    with PipelineLogger(tmp_path / "logs") as logger:
        _two_attempts(logger)
    assert main(["--log-dir", str(tmp_path / "logs"), "summary", "run", "--attempt", "1"]) == 0
    out = capsys.readouterr().out
    assert "attempt      1 of 2" in out
    assert "error in load: ConnectionError: db down" in out
