"""python -m logging_ext: tables for people, JSON for machines, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from logging_ext import PipelineLogger, main
from tests._processes import run_with_reader_gone


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    with PipelineLogger(tmp_path / "logs") as logger:
        logger.log_event("pipeline_start", "run1")
        logger.log_stage_start("run1", "extract")
        logger.log_stage_complete("run1", "extract", {"rows": 3})
        logger.log_stage_start("run2", "extract")
        logger.log_stage_error("run2", "extract", RuntimeError("api down"))
    return tmp_path / "logs"


def test_events_table(log_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--log-dir", str(log_dir), "events", "--pipeline", "run1"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split() == ["TIMESTAMP", "EVENT_TYPE", "PIPELINE_ID", "STAGE", "STATUS",
                              "METADATA"]  # fmt: skip
    assert len(rows) == 3
    assert header.index("EVENT_TYPE") == rows[0].index("pipeline_start")  # aligned columns


def test_events_json_filtered_by_type(log_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--log-dir", str(log_dir), "events", "--type", "stage_error", "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["pipeline_id"], e["metadata"]["error"]) for e in events] == [("run2", "api down")]


def test_summary_text_and_json(log_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--log-dir", str(log_dir), "summary", "run2"]) == 0
    out = capsys.readouterr().out
    assert "failed" in out
    assert "RuntimeError: api down" in out
    assert main(["--log-dir", str(log_dir), "summary", "run1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stages_completed"] == ["extract"]


def test_summary_of_an_unknown_pipeline_fails(log_dir, capsys) -> None:
    assert main(["--log-dir", str(log_dir), "summary", "nope"]) == 1
    assert capsys.readouterr().err.strip() == "error: no events for pipeline 'nope'"


@pytest.mark.parametrize(("file", "expected"), [("events", "stage_error"), ("errors", "api down")])
def test_tail(log_dir: Path, capsys: pytest.CaptureFixture[str], file: str, expected: str) -> None:
    assert main(["--log-dir", str(log_dir), "tail", "-n", "1", "--file", file]) == 0
    assert expected in capsys.readouterr().out


def test_cleanup(log_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = log_dir / "pipeline.log.1"
    old.write_text("{}\n")
    os.utime(old, (time.time() - 9 * 86400,) * 2)
    assert main(["--log-dir", str(log_dir), "cleanup", "--retention-days", "7"]) == 0
    assert capsys.readouterr().out.strip() == "deleted 1 rotated log file(s)"
    assert not old.exists()


def test_a_missing_directory_is_a_one_line_error(tmp_path, capsys) -> None:
    assert main(["--log-dir", str(tmp_path / "absent"), "events"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: log directory")


def test_module_entry_point_in_a_subprocess(log_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "logging_ext", "--log-dir", str(log_dir), "events", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 5


def test_a_closed_pipe_ends_quietly(log_dir: Path) -> None:
    """`python -m logging_ext events | head -1`: no traceback, no error line once head is gone."""
    proc = run_with_reader_gone("-m", "logging_ext", "--log-dir", str(log_dir), "events")
    assert proc.stderr == ""
    assert proc.returncode == 1


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["events", "--hours", "inf"], "--hours"),
        (["events", "--hours", "nan"], "--hours"),
        (["events", "--hours", "-1"], "--hours"),
        (["events", "--hours", "1e300"], "--hours"),
        (["cleanup", "--retention-days", "inf"], "--retention-days"),
        (["cleanup", "--retention-days", "nan"], "--retention-days"),
        (["cleanup", "--retention-days", "-1"], "--retention-days"),
    ],
)
def test_a_bad_time_window_is_a_one_line_usage_error(log_dir, capsys, argv, option) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--log-dir", str(log_dir), *argv])
    out, err = capsys.readouterr()
    assert info.value.code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert f"argument {option}" in err and repr(argv[-1]) in err


@pytest.mark.parametrize("argv", [["events"], ["summary", "run1"], ["tail"], ["cleanup"]])
def test_a_missing_directory_after_the_command_fails_too(tmp_path, capsys, argv) -> None:
    missing = tmp_path / "lgos"
    assert main([*argv, "--log-dir", str(missing)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"error: log directory {str(missing)!r} does not exist\n"
    assert not missing.exists()


def test_log_dir_works_after_the_command_and_wins_there(log_dir, tmp_path, capsys) -> None:
    assert main(["events", "--json", "--log-dir", str(log_dir)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 5
    assert main(["--log-dir", str(tmp_path / "absent"), "events", "--log-dir", str(log_dir)]) == 0
    assert "pipeline_start" in capsys.readouterr().out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["--log-dir", str(log_dir), "events", "--log-dir", str(empty)]) == 0
    assert capsys.readouterr().out.strip() == "no events"


def test_a_file_given_as_the_log_directory_is_an_error(tmp_path, capsys) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    assert main(["events", "--log-dir", str(path)]) == 1
    assert capsys.readouterr().err == f"error: log directory {str(path)!r} is not a directory\n"
