"""PipelineLogger: the three files and their schemas, shared handlers, root capture, processes."""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from logging_ext import InvalidHandlerArgumentError, PipelineLogger, log_context
from tests._json import loads_strict
from tests.logging_ext import _workers

EVENT_KEYS = ["timestamp", "event_type", "pipeline_id", "stage", "status", "metadata"]


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [loads_strict(line) for line in path.read_text().splitlines()]


@pytest.fixture
def pipeline_logger(tmp_path: Path):
    logger = PipelineLogger(tmp_path / "logs")
    yield logger
    logger.close()


def test_creates_the_directory_layout(pipeline_logger: PipelineLogger) -> None:
    for sub in ("events", "errors", "stages"):
        assert (pipeline_logger.log_dir / sub).is_dir()
    assert pipeline_logger.log_dir.is_absolute()


def test_events_follow_the_schema_in_events_log(pipeline_logger: PipelineLogger) -> None:
    p = pipeline_logger
    p.log_event("pipeline_start", "run1", metadata={"tickers": ["A", "B"]})
    p.log_stage_start("run1", "extract")
    p.log_checkpoint("run1", "extract", "ckpt-1", metadata={"rows": np.int64(10)})
    p.log_performance("run1", "extract", 0.25)
    p.log_data_quality("run1", "extract", {"missing_rate": float("nan"), "outliers": 5})
    p.log_stage_complete("run1", "extract", metadata={"rows": 10})
    p.log_event("pipeline_complete", "run1", status="success")
    events = _lines(p.log_dir / "events" / "events.log")
    assert all(list(e) == EVENT_KEYS for e in events)
    assert [e["event_type"] for e in events] == [
        "pipeline_start",
        "stage_start",
        "checkpoint_saved",
        "performance_metric",
        "data_quality_check",
        "stage_complete",
        "pipeline_complete",
    ]
    assert events[2]["metadata"] == {"checkpoint_id": "ckpt-1", "rows": 10}
    assert events[3]["metadata"] == {"duration_seconds": 0.25}
    assert events[4]["metadata"] == {"missing_rate": None, "outliers": 5}
    for event in events:
        assert dt.datetime.fromisoformat(event["timestamp"]).utcoffset() is not None


def test_events_also_land_in_pipeline_log_with_record_fields(
    pipeline_logger: PipelineLogger,
) -> None:
    pipeline_logger.log_stage_start("run1", "extract")
    (record,) = _lines(pipeline_logger.log_dir / "pipeline.log")
    for key in ("timestamp", "level", "logger", "message", "process", "thread_name"):
        assert key in record
    assert (record["pipeline_id"], record["stage"], record["event_type"]) == (
        "run1",
        "extract",
        "stage_start",
    )
    assert record["logger"].startswith("logging_ext.events.")


def test_stage_error_goes_to_errors_log_with_the_traceback(
    pipeline_logger: PipelineLogger,
) -> None:
    try:
        raise ValueError("bad rows")
    except ValueError as exc:
        pipeline_logger.log_stage_error("run1", "transform", exc)
    (event,) = _lines(pipeline_logger.log_dir / "events" / "events.log")
    assert event["status"] == "error"
    assert event["metadata"] == {"error_type": "ValueError", "error": "bad rows"}
    assert "traceback" not in event
    (error,) = _lines(pipeline_logger.log_dir / "errors" / "errors.log")
    assert (error["exc_type"], error["exc_message"], error["level"]) == (
        "ValueError",
        "bad rows",
        "ERROR",
    )
    assert 'raise ValueError("bad rows")' in error["traceback"]


def test_user_loggers_inside_a_context_land_in_pipeline_log(
    pipeline_logger: PipelineLogger,
) -> None:
    user = logging.getLogger("my_app.extract")
    user.info("outside: not captured")
    with log_context(pipeline_id="run1", stage="extract"):
        user.info("rows fetched: %d", 42)
        user.debug("below the level")
        try:
            raise OSError("disk")
        except OSError:
            user.exception("could not write")
    records = _lines(pipeline_logger.log_dir / "pipeline.log")
    assert [(r["logger"], r["message"], r["stage"]) for r in records] == [
        ("my_app.extract", "rows fetched: 42", "extract"),
        ("my_app.extract", "could not write", "extract"),
    ]
    (error,) = _lines(pipeline_logger.log_dir / "errors" / "errors.log")
    assert error["exc_type"] == "OSError"
    assert error["pipeline_id"] == "run1"


def test_two_loggers_for_one_directory_never_duplicate_a_line(tmp_path: Path) -> None:
    first = PipelineLogger(tmp_path / "logs")
    second = PipelineLogger(str(tmp_path / "logs" / ".." / "logs"))
    first.log_stage_start("run1", "a")
    second.log_stage_start("run1", "b")
    with log_context(pipeline_id="run1"):
        logging.getLogger("user").warning("once")
    assert len(_lines(first.log_dir / "events" / "events.log")) == 2
    assert len(_lines(first.log_dir / "pipeline.log")) == 3
    named = [h.get_name() for h in logging.getLogger().handlers if h.get_name()]
    assert len(named) == len(set(named))
    first.close()
    second.log_stage_complete("run1", "b")  # still works after the other one closed
    assert len(_lines(first.log_dir / "events" / "events.log")) == 3
    second.close()
    assert not [h for h in logging.getLogger().handlers if "logging_ext" in (h.get_name() or "")]


def test_two_directories_in_one_process_stay_apart(tmp_path: Path) -> None:
    a = PipelineLogger(tmp_path / "a")
    b = PipelineLogger(tmp_path / "b")
    a.log_stage_start("run_a", "s")
    b.log_stage_start("run_b", "s")
    assert [e["pipeline_id"] for e in _lines(a.log_dir / "pipeline.log")] == ["run_a"]
    assert [e["pipeline_id"] for e in _lines(b.log_dir / "events" / "events.log")] == ["run_b"]
    a.close()
    b.close()


def test_root_level_is_lowered_then_restored(tmp_path: Path) -> None:
    root = logging.getLogger()
    root.setLevel(logging.WARNING)
    logger = PipelineLogger(tmp_path / "logs", level=logging.INFO)
    assert root.level == logging.INFO
    logger.close()
    assert root.level == logging.WARNING


def test_configure_root_false_leaves_the_root_logger_alone(tmp_path: Path) -> None:
    root = logging.getLogger()
    root.setLevel(logging.WARNING)
    before = list(root.handlers)
    logger = PipelineLogger(tmp_path / "logs", configure_root=False)
    assert root.level == logging.WARNING
    assert root.handlers == before
    with log_context(pipeline_id="run1"):
        logging.getLogger("user").warning("not captured")
    logger.log_stage_start("run1", "s")
    assert [r["message"] for r in _lines(logger.log_dir / "pipeline.log")] == ["stage_start"]
    logger.close()


def test_events_propagate_to_application_handlers(tmp_path: Path) -> None:
    seen: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    logging.getLogger("logging_ext.events").addHandler(Collect())
    with PipelineLogger(tmp_path / "logs") as logger:
        logger.log_stage_start("run1", "s")
    assert [(r.event_type, r.pipeline_id) for r in seen] == [("stage_start", "run1")]  # type: ignore[attr-defined]


def test_console_prints_human_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with PipelineLogger(tmp_path / "logs", console=True) as logger:
        logger.log_stage_start("run1", "extract")
    err = capsys.readouterr().err
    assert "run1/extract" in err
    assert "stage_start" in err


def test_logging_after_close_is_dropped(tmp_path: Path) -> None:
    logger = PipelineLogger(tmp_path / "logs")
    logger.close()
    logger.close()
    logger.log_stage_start("run1", "s")
    assert not (logger.log_dir / "events" / "events.log").exists()


def test_handlers_removed_by_a_logging_reset_are_rebuilt(tmp_path: Path) -> None:
    first = PipelineLogger(tmp_path / "logs")
    events_logger = logging.getLogger(first._events_logger.name)
    for handler in list(events_logger.handlers):
        events_logger.removeHandler(handler)
    second = PipelineLogger(tmp_path / "logs")
    second.log_stage_start("run1", "s")
    assert len(_lines(second.log_dir / "events" / "events.log")) == 1
    second.close()
    first.close()


def test_pipeline_log_rotates_by_size(tmp_path: Path) -> None:
    with PipelineLogger(tmp_path / "logs", max_bytes=2_000, backup_count=50) as logger:
        for i in range(60):
            logger.log_event("tick", "run1", metadata={"i": i})
    files = sorted((tmp_path / "logs").glob("pipeline.log*"))
    assert len(files) > 3
    assert sorted(r["metadata"]["i"] for f in files for r in _lines(f)) == list(range(60))


@pytest.mark.parametrize(
    "kwargs", [{"max_bytes": -1}, {"backup_count": -2}, {"retention_days": -1}]
)
def test_bad_arguments_are_refused(tmp_path: Path, kwargs) -> None:
    with pytest.raises(InvalidHandlerArgumentError):
        PipelineLogger(tmp_path / "logs", **kwargs)


def test_processes_sharing_a_log_directory_lose_nothing(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    workers, count = 3, 400
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_workers.log_events, args=(str(log_dir), w, count))
        for w in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0
    events = _lines(log_dir / "events" / "events.log")
    assert sorted((e["pipeline_id"], e["metadata"]["i"]) for e in events) == sorted(
        (f"p{w}", i) for w in range(workers) for i in range(count)
    )
    records = [r for f in log_dir.glob("pipeline.log*") for r in _lines(f)]
    assert len(records) == 2 * workers * count
    assert sum(r["logger"] == "user.code" for r in records) == workers * count


def test_an_error_is_formatted_once_for_pipeline_log_and_errors_log(
    pipeline_logger: PipelineLogger,
) -> None:
    try:
        raise ValueError("bad rows")
    except ValueError as exc:
        pipeline_logger.log_stage_error("run1", "transform", exc)
    pipeline_line = (pipeline_logger.log_dir / "pipeline.log").read_bytes()
    assert pipeline_line == (pipeline_logger.log_dir / "errors" / "errors.log").read_bytes()


def test_a_record_changed_between_the_two_files_is_formatted_again(
    pipeline_logger: PipelineLogger,
) -> None:
    class Tag(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            record.tagged = True
            return True

    (errors,) = [h for h in logging.getLogger().handlers if (h.get_name() or "").startswith(
        "logging_ext.errors:")]  # fmt: skip
    errors.addFilter(Tag())
    with log_context(pipeline_id="run1"):
        logging.getLogger("user").error("failed")
    (in_pipeline,) = _lines(pipeline_logger.log_dir / "pipeline.log")
    (in_errors,) = _lines(pipeline_logger.log_dir / "errors" / "errors.log")
    assert "tagged" not in in_pipeline
    assert in_errors["tagged"] is True
