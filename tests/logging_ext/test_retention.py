"""Retention deletes old rotated files only, and tolerates concurrent cleaners."""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from pathlib import Path

import pytest

from logging_ext import (
    PipelineLogger,
    _retention,
    cleanup_old_logs,
    register_stage_log,
    rotated_log_files,
)
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
    monkeypatch.setattr(_retention.LogFamily, "siblings", lambda _: [gone, present])
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


def test_other_programs_rotated_logs_anywhere_below_the_log_dir_survive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # log_file: "pipeline.log" in the YAML configuration gives a log directory of "."
    monkeypatch.chdir(tmp_path)
    foreign = [
        _touch(tmp_path / "audit" / "2023" / "trades.log.2023-01-31", 30),
        _touch(tmp_path / "webserver.log.1", 30),
        _touch(tmp_path / "nginx.log.2", 30),
        _touch(tmp_path / "events" / "app.log.2020-01-01", 30),  # in our directory, not ours
        _touch(tmp_path / "events" / "events.log.7", 30),  # ours are dated, not numbered
        _touch(tmp_path / "errors" / "worker.log.3", 30),
        _touch(tmp_path / "stages" / "someone.log.1", 30),  # no stage log of ours by that name
        _touch(tmp_path / "old" / "pipeline.log.4", 30),  # not where the logger writes
        _touch(tmp_path / "pipeline.log.1.bak", 30),
    ]
    ours = [
        _touch(tmp_path / "pipeline.log.3", 30),
        _touch(tmp_path / "errors" / "errors.log.2", 30),
        _touch(tmp_path / "events" / f"events.log.{_dated(30)}", 30),
    ]
    assert rotated_log_files(".") == sorted(p.relative_to(tmp_path) for p in ours)
    with PipelineLogger(".", retention_days=7) as logger:
        assert logger.cleanup_old_logs() == len(ours)
    assert not any(p.exists() for p in ours)
    assert all(p.exists() for p in foreign)
    assert cleanup_old_logs(".", 0) == 0


def test_rotated_stage_logs_are_ours_only_when_the_stage_log_handler_recorded_them(
    tmp_path: Path,
) -> None:
    stages = tmp_path / "stages"
    written = _touch(stages / "extract.log.2", 30)
    _touch(stages / "extract.log", 30)
    foreign = _touch(stages / "notes.log.1", 30)
    assert cleanup_old_logs(tmp_path, 7) == 0
    register_stage_log(stages, "extract")
    assert rotated_log_files(tmp_path) == [written]
    assert cleanup_old_logs(tmp_path, 7) == 1
    assert not written.exists()
    assert foreign.exists()
    assert (stages / "extract.log").exists()


def test_with_a_namer_only_the_names_it_produces_are_rotated_files(tmp_path: Path) -> None:
    def namer(default: str) -> str:
        return default + ".gz"

    ours = [
        _touch(tmp_path / "pipeline.log.1.gz", 30),
        _touch(tmp_path / "events" / f"events.log.{_dated(30)}.gz", 30),
    ]
    kept = [
        _touch(tmp_path / "pipeline.log.2", 30),  # not a name the namer makes
        _touch(tmp_path / "pipeline.log.3.zip", 30),
        _touch(tmp_path / "webserver.log.1.gz", 30),
    ]
    assert rotated_log_files(tmp_path, namer=namer) == sorted(ours)
    assert cleanup_old_logs(tmp_path, 7, namer=namer) == 2
    assert not any(p.exists() for p in ours)
    assert all(p.exists() for p in kept)


def test_pipeline_logger_cleanup_follows_the_namer_set_on_its_handler(tmp_path: Path) -> None:
    with PipelineLogger(tmp_path, retention_days=7) as logger:
        (handler,) = [
            h
            for h in logging.getLogger().handlers
            if h.get_name() == f"logging_ext.pipeline:{tmp_path.resolve()}"
        ]
        handler.namer = lambda name: name + ".gz"  # type: ignore[attr-defined]
        compressed = _touch(tmp_path / "pipeline.log.1.gz", 30)
        plain = _touch(tmp_path / "pipeline.log.2", 30)
        errors_log = _touch(tmp_path / "errors" / "errors.log.1", 30)  # no namer there
        assert logger.cleanup_old_logs() == 2
    assert not compressed.exists()
    assert plain.exists()
    assert not errors_log.exists()
