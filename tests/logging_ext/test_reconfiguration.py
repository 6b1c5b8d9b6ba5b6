"""Events and pipeline logs survive the application's own dictConfig and basicConfig."""

from __future__ import annotations

import io
import logging
import logging.config
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from checkpointing import Pipeline
from logging_ext import PipelineLogger, log_context
from tests._json import loads_strict


def _lines(path: Path) -> list[dict[str, Any]]:
    return [loads_strict(line) for line in path.read_text().splitlines()] if path.exists() else []


def _app_config(stream: io.StringIO, **options: Any) -> dict[str, Any]:
    """What most applications call at start-up: a console handler on the root logger."""
    return {
        "version": 1,
        "formatters": {"plain": {"format": "%(levelname)s %(name)s %(message)s"}},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "stream": stream, "formatter": "plain"}
        },
        "root": {"handlers": ["console"], "level": "INFO"},
        **options,
    }


RECONFIGURATIONS = {
    "dictConfig": lambda s: logging.config.dictConfig(_app_config(s)),
    "dictConfig, existing loggers kept": lambda s: logging.config.dictConfig(
        _app_config(s, disable_existing_loggers=False)
    ),
    "dictConfig of logging_ext itself": lambda s: logging.config.dictConfig(
        _app_config(s, loggers={"logging_ext": {"level": "WARNING"}})
    ),
    "basicConfig(force=True)": lambda s: logging.basicConfig(
        stream=s, level=logging.INFO, force=True
    ),
}


@pytest.mark.parametrize("reconfigure", RECONFIGURATIONS.values(), ids=RECONFIGURATIONS)
def test_every_later_event_and_record_still_lands_once(tmp_path: Path, reconfigure) -> None:
    log_dir = tmp_path / "logs"
    logger = PipelineLogger(log_dir)
    logger.log_event("pipeline_start", "run1")
    with log_context(pipeline_id="run1", stage="extract"):
        reconfigure(io.StringIO())
        # A logger made after the reconfiguration (dictConfig disables the application's
        # existing loggers too: that is the application's choice, not ours to undo).
        user = logging.getLogger(f"user.{tmp_path.name}")
        user.error("right after the reconfiguration")
        logger.log_stage_start("run1", "extract")
        user.warning("after an event")
    logger.log_event("pipeline_complete", "run1")
    events = [e["event_type"] for e in _lines(log_dir / "events" / "events.log")]
    assert events == ["pipeline_start", "stage_start", "pipeline_complete"]
    records = Counter(r["message"] for r in _lines(log_dir / "pipeline.log"))
    assert records == {"pipeline_start": 1, "right after the reconfiguration": 1,
                       "stage_start": 1, "after an event": 1, "pipeline_complete": 1}  # fmt: skip
    errors = [r["message"] for r in _lines(log_dir / "errors" / "errors.log")]
    assert errors == ["right after the reconfiguration"]
    named = [h.get_name() for h in logging.getLogger().handlers if h.get_name()]
    assert len(named) == len(set(named))  # re-attached, never duplicated
    logger.close()
    assert not [h for h in logging.getLogger().handlers if "logging_ext" in (h.get_name() or "")]


@pytest.mark.parametrize("reconfigure", RECONFIGURATIONS.values(), ids=RECONFIGURATIONS)
def test_new_pipelines_in_the_same_process_log(tmp_path: Path, reconfigure) -> None:
    first = PipelineLogger(tmp_path / "a")
    reconfigure(io.StringIO())
    again = PipelineLogger(tmp_path / "a")  # the same directory: shares the repaired handlers
    other = PipelineLogger(tmp_path / "b")
    again.log_event("pipeline_start", "run2")
    other.log_event("pipeline_start", "run3")
    assert [e["pipeline_id"] for e in _lines(tmp_path / "a" / "events" / "events.log")] == ["run2"]
    assert [e["pipeline_id"] for e in _lines(tmp_path / "b" / "events" / "events.log")] == ["run3"]
    assert len(_lines(tmp_path / "a" / "pipeline.log")) == 1
    for logger in (first, again, other):
        logger.close()


def test_a_pipeline_run_reconfigured_inside_a_stage_completes_its_logs(tmp_path: Path) -> None:
    stream = io.StringIO()
    pipeline = Pipeline("etl", checkpoints=False, log_dir=tmp_path / "logs")
    with pipeline:
        with pipeline.stage("configure"):
            logging.config.dictConfig(_app_config(stream))  # as an application's main() does
            logging.getLogger("app").info("configured")
        with pipeline.stage("load"):
            logging.getLogger("app").info("loading")
    events = _lines(tmp_path / "logs" / "events" / "events.log")
    assert [e["event_type"] for e in events][-1] == "pipeline_complete"
    assert {e["stage"] for e in events if e["event_type"] == "stage_complete"} == {
        "configure",
        "load",
    }
    messages = [r["message"] for r in _lines(tmp_path / "logs" / "pipeline.log")]
    assert messages.count("configured") == 1
    assert messages.count("loading") == 1
    assert "loading" in stream.getvalue()  # the application's own handler works too


def test_records_outside_any_pipeline_do_not_bring_back_a_closed_logger(tmp_path: Path) -> None:
    logger = PipelineLogger(tmp_path / "logs")
    logger.log_event("pipeline_start", "run1")
    logger.close()
    logging.basicConfig(stream=io.StringIO(), force=True)
    with log_context(pipeline_id="run1"):
        logging.getLogger("user").warning("after close")
    assert not [h for h in logging.getLogger().handlers if "logging_ext" in (h.get_name() or "")]
    assert [r["message"] for r in _lines(tmp_path / "logs" / "pipeline.log")] == ["pipeline_start"]


def test_a_record_never_waits_for_a_repair_another_thread_is_doing(tmp_path: Path) -> None:
    import threading

    from logging_ext import _sinks

    logger = PipelineLogger(tmp_path / "logs")
    logger.log_event("pipeline_start", "run1")
    logging.basicConfig(stream=io.StringIO(), force=True)
    held, done = threading.Event(), threading.Event()

    def hold_the_registry() -> None:
        with _sinks._LOCK:
            held.set()
            done.wait(60)

    holder = threading.Thread(target=hold_the_registry)
    holder.start()
    held.wait(60)
    with log_context(pipeline_id="run1"):
        logging.getLogger(f"user.{tmp_path.name}").error("while the registry is busy")
    done.set()
    holder.join(60)
    logger.log_event("stage_start", "run1", "s")  # the next event repairs
    messages = [r["message"] for r in _lines(tmp_path / "logs" / "pipeline.log")]
    assert messages == ["pipeline_start", "stage_start"]
    logger.close()
