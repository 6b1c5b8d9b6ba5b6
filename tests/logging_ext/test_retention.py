"""Retention deletes old rotated files only, and tolerates concurrent cleaners."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import pytest

from logging_ext import PipelineLogger, _retention, cleanup_old_logs, rotated_log_files
from tests.logging_ext import _workers

DAY = 86400


def _touch(path: Path, age_days: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}\n")
    moment = time.time() - age_days * DAY
    os.utime(path, (moment, moment))
    return path


def _dated(days_ago: int) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(time.time() - days_ago * DAY))


def test_old_rotated_files_go_and_everything_else_stays(tmp_path: Path) -> None:
    old = [
        _touch(tmp_path / "pipeline.log.3", 10),
        _touch(tmp_path / "errors" / "errors.log.1", 8),
        _touch(tmp_path / "events" / f"events.log.{_dated(9)}", 0),  # by name, despite mtime
    ]
    kept = [
        _touch(tmp_path / "pipeline.log", 30),  # active: never
        _touch(tmp_path / "events" / "events.log", 30),
        _touch(tmp_path / "pipeline.log.1", 1),
        _touch(tmp_path / "events" / f"events.log.{_dated(2)}", 30),  # by name, despite mtime
        _touch(tmp_path / "events" / ".events.log.lock", 30),
        _touch(tmp_path / "notes.txt", 30),
        _touch(tmp_path / "data.log.backup", 30),
    ]
    assert cleanup_old_logs(tmp_path, 7) == len(old)
    assert not any(p.exists() for p in old)
    assert all(p.exists() for p in kept)


def test_rotated_log_files_never_lists_active_or_hidden_files(tmp_path: Path) -> None:
    _touch(tmp_path / "pipeline.log", 0)
    _touch(tmp_path / ".pipeline.log.lock", 0)
    rotated = _touch(tmp_path / "pipeline.log.2", 0)
    assert rotated_log_files(tmp_path) == [rotated]


def test_a_file_deleted_by_someone_else_first_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = tmp_path / "pipeline.log.1"
    present = _touch(tmp_path / "pipeline.log.2", 30)
    monkeypatch.setattr(_retention, "rotated_log_files", lambda _: [gone, present])
    assert cleanup_old_logs(tmp_path, 7) == 1


def test_concurrent_cleaners_delete_each_file_once(tmp_path: Path) -> None:
    for i in range(1, 301):
        _touch(tmp_path / f"pipeline.log.{i}", 5)
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        counts = pool.map(_workers.cleanup, [str(tmp_path)] * 3)
    assert sum(counts) == 300
    assert rotated_log_files(tmp_path) == []


def test_pipeline_logger_uses_its_retention(tmp_path: Path) -> None:
    with PipelineLogger(tmp_path, retention_days=3) as logger:
        _touch(tmp_path / "pipeline.log.1", 4)
        _touch(tmp_path / "pipeline.log.2", 2)
        assert logger.cleanup_old_logs() == 1
