"""Reading events back: filters, the time window, rotated files and summaries."""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import random
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


def _naive(
    log_dir: Path, pipeline_id=None, event_type=None, since=None, until=None
) -> list[dict[str, object]]:
    """What read_events must return: every line parsed, every filter applied after parsing."""
    found = []
    for path in event_files(log_dir):
        for raw in path.read_bytes().split(b"\n"):
            try:
                event = json.loads(raw.decode("utf-8", "replace"))
            except ValueError:
                continue
            if not isinstance(event, dict):
                continue
            try:
                moment = dt.datetime.fromisoformat(event["timestamp"]).timestamp()
            except (KeyError, TypeError, ValueError):
                moment = None
            if (
                (pipeline_id is None or event.get("pipeline_id") == pipeline_id)
                and (event_type is None or event.get("event_type") == event_type)
                and (since is None or moment is None or moment >= since)
                and (until is None or moment is None or moment < until)
            ):
                found.append(event)
    return sorted(found, key=lambda e: str(e.get("timestamp", "")))


def test_the_raw_byte_prefilters_skip_only_lines_that_cannot_match(tmp_path: Path) -> None:
    rng = random.Random(7)
    now = time.time()
    ids = ["etl", "etl_2", "ét", 'q"uote', "a\\b", "\u2028x"]
    lines = []
    for n in range(3000):
        pid = rng.choice(ids)
        when = now - rng.uniform(0, 48 * 3600)
        kind = rng.choice(["stage_start", "stage_complete", "tick"])
        line = _event(when, pid, event_type=kind, n=n, text=rng.choice(["", "é", "\x00", "\n"]))
        if n % 97 == 0:  # the same instant written with another offset
            stamp = iso_timestamp(when)
            plus_two = dt.timezone(dt.timedelta(hours=2))
            line = line.replace(
                stamp, dt.datetime.fromisoformat(stamp).astimezone(plus_two).isoformat()
            )
        if n % 101 == 0:
            line = line.encode().replace(b"tick", b"ti\xffck").decode("utf-8", "surrogateescape")
        lines.append(line)
    lines += ['{"torn": \n', "[1, 2]\n", '{"pipeline_id": "etl"}\n', "\n"]
    path = tmp_path / "events" / "events.log"
    path.parent.mkdir(parents=True)
    path.write_bytes("".join(lines).encode("utf-8", "surrogateescape"))
    since, until = now - 24 * 3600, now - 3600
    for pipeline_id in [None, *ids, "missing"]:
        for event_type in [None, "stage_start", "tick"]:
            for window in [(None, None), (since, None), (since, until)]:
                got = read_events(tmp_path, pipeline_id=pipeline_id, event_type=event_type,
                                  since=window[0], until=window[1])  # fmt: skip
                want = _naive(tmp_path, pipeline_id, event_type, *window)
                assert got == want, (pipeline_id, event_type, window)


def test_lines_across_read_pieces_and_longer_than_a_piece_are_read(tmp_path: Path) -> None:
    now = time.time()
    big = "x" * (3 << 20)  # one event of 3 MiB
    lines = [_event(now - 100 + i * 0.001, "p", n=i, pad="y" * 300) for i in range(8000)]
    lines.insert(4000, _event(now - 50, "p", n=-1, big=big))
    _write(tmp_path / "events" / "events.log", lines)
    events = read_events(tmp_path, pipeline_id="p")
    assert len(events) == 8001
    assert sorted(e["metadata"]["n"] for e in events) == list(range(-1, 8000))
    assert any(e["metadata"].get("big") == big for e in events)


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_left_as_it_was_found(log_dir: Path, enabled: bool) -> None:
    (gc.enable if enabled else gc.disable)()
    try:
        read_events(log_dir, pipeline_id="a")
        assert gc.isenabled() is enabled
    finally:
        gc.enable()
