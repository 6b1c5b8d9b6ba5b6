"""Process-safe handlers: real processes lose, duplicate and tear nothing; errors reported once."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
import time
from pathlib import Path

import pytest

from logging_ext import (
    InvalidHandlerArgumentError,
    JsonFormatter,
    ProcessSafeRotatingFileHandler,
    ProcessSafeTimedRotatingFileHandler,
)
from tests.logging_ext import _workers


def _logger(name: str, handler: logging.Handler) -> logging.Logger:
    handler.setFormatter(JsonFormatter(["message"]))
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def _messages(files: list[Path]) -> list[str]:
    messages = []
    for path in files:
        for line in path.read_bytes().split(b"\n")[:-1]:
            messages.append(json.loads(line)["message"])  # raises on a torn line
        assert path.read_bytes().endswith(b"\n") or path.stat().st_size == 0
    return messages


def _run(target, argument_lists) -> None:
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=target, args=args) for args in argument_lists]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0


def _expected(workers: int, count: int) -> set[tuple[int, int]]:
    return {(w, i) for w in range(workers) for i in range(count)}


def _ids(messages: list[str]) -> list[tuple[int, int]]:
    return [tuple(int(x) for x in m.split(" ")[0].split("-")) for m in messages]  # type: ignore[misc]


def test_processes_sharing_a_size_rotated_file_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.log"
    workers, count, max_bytes = 4, 1500, 16 * 1024
    _run(_workers.write_size_rotated, [(str(path), w, count, max_bytes) for w in range(workers)])
    files = sorted(tmp_path.glob("shared.log*"))
    ids = _ids(_messages(files))
    assert len(ids) == workers * count
    assert set(ids) == _expected(workers, count)
    assert len(files) > 10  # it did rotate, many times
    rotated = [p for p in files if p.name != "shared.log"]
    # each rotated file was rotated once: none holds more than a few records past the limit
    assert max(p.stat().st_size for p in rotated) < max_bytes + 4 * 300


def test_processes_sharing_a_timed_file_never_both_rotate(tmp_path: Path) -> None:
    path = tmp_path / "timed.log"
    workers, count = 3, 120
    _run(_workers.write_time_rotated, [(str(path), w, count, 0.02) for w in range(workers)])
    files = sorted(tmp_path.glob("timed.log*"))
    dated = [p for p in files if p.name != "timed.log"]
    assert len(dated) >= 2
    ids = _ids(_messages(files))
    assert len(ids) == workers * count
    assert set(ids) == _expected(workers, count)


def test_rotation_chain_keeps_backup_count_files(tmp_path: Path) -> None:
    handler = ProcessSafeRotatingFileHandler(tmp_path / "r.log", maxBytes=200, backupCount=3)
    logger = _logger("chain", handler)
    for i in range(40):
        logger.info("record %03d", i)
    names = sorted(p.name for p in tmp_path.glob("r.log*"))
    assert names == ["r.log", "r.log.1", "r.log.2", "r.log.3"]
    newest = _messages([tmp_path / "r.log.3", tmp_path / "r.log.2", tmp_path / "r.log.1",
                        tmp_path / "r.log"])  # fmt: skip
    assert newest[-1] == "record 039"
    assert newest == sorted(newest)
    assert all(p.stat().st_size <= 200 for p in tmp_path.glob("r.log*"))


@pytest.mark.parametrize(("max_bytes", "backup_count"), [(0, 5), (100, 0)])
def test_no_rotation_without_size_or_backups(tmp_path: Path, max_bytes, backup_count) -> None:
    handler = ProcessSafeRotatingFileHandler(
        tmp_path / "r.log", maxBytes=max_bytes, backupCount=backup_count
    )
    logger = _logger("norotate", handler)
    for i in range(20):
        logger.info("record %d", i)
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == ["r.log"]
    assert len(_messages([tmp_path / "r.log"])) == 20


def test_two_handlers_in_one_process_rotate_once_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "two.log"
    first = _logger("two_a", ProcessSafeRotatingFileHandler(path, maxBytes=500, backupCount=99))
    second = _logger("two_b", ProcessSafeRotatingFileHandler(path, maxBytes=500, backupCount=99))
    for i in range(100):
        (first if i % 2 else second).info("0-%d", i)
    ids = _ids(_messages(sorted(tmp_path.glob("two.log*"))))
    assert sorted(ids) == [(0, i) for i in range(100)]


def test_a_file_rotated_away_by_someone_else_is_reopened(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    handler = ProcessSafeRotatingFileHandler(path, reopen_check_interval=0)
    logger = _logger("moved", handler)
    logger.info("before")
    path.rename(tmp_path / "app.log.old")
    logger.info("after")
    assert _messages([tmp_path / "app.log.old"]) == ["before"]
    assert _messages([path]) == ["after"]


def test_a_moved_file_is_noticed_after_the_check_interval(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    logger = _logger("moved_later", ProcessSafeRotatingFileHandler(path, reopen_check_interval=0.2))
    logger.info("first")
    path.rename(tmp_path / "moved.log")
    time.sleep(0.25)
    logger.info("second")
    assert _messages([path]) == ["second"]


def test_a_deleted_log_directory_is_recreated(tmp_path: Path) -> None:
    directory = tmp_path / "logs" / "nested"
    handler = ProcessSafeTimedRotatingFileHandler(directory / "e.log", reopen_check_interval=0)
    logger = _logger("deleted", handler)
    logger.info("one")
    shutil.rmtree(tmp_path / "logs")
    logger.info("two")
    assert _messages([directory / "e.log"]) == ["two"]


def test_a_missing_directory_is_created_at_first_open(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "c.log"
    logger = _logger("mkdir", ProcessSafeRotatingFileHandler(path, delay=True))
    assert not path.parent.exists()
    logger.info("made")
    assert _messages([path]) == ["made"]


@pytest.mark.parametrize("target", ["/dev/full", "not_a_dir/x.log"])
def test_a_write_failure_is_reported_once_and_never_raised(
    tmp_path: Path, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if target == "/dev/full" and not Path("/dev/full").exists():
        target = "not_a_dir/y.log"
    (tmp_path / "not_a_dir").write_text("a regular file")
    path = target if target.startswith("/") else str(tmp_path / target)
    logger = _logger("failing", ProcessSafeRotatingFileHandler(path, delay=True))
    for i in range(5):
        logger.info("lost %d", i)  # must not raise
    assert capsys.readouterr().err.count("--- Logging error ---") == 1


def test_reporting_resumes_after_a_successful_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "dir"
    blocker.write_text("file in the way")
    handler = ProcessSafeRotatingFileHandler(blocker / "x.log", delay=True, reopen_check_interval=0)
    logger = _logger("resume", handler)
    logger.info("fails")
    blocker.unlink()
    logger.info("works")
    blocker_dir_file = blocker / "x.log"
    assert _messages([blocker_dir_file]) == ["works"]
    shutil.rmtree(blocker)
    blocker.write_text("in the way again")
    logger.info("fails again")
    assert capsys.readouterr().err.count("--- Logging error ---") == 2


def test_each_record_is_in_the_file_when_emit_returns(tmp_path: Path) -> None:
    path = tmp_path / "now.log"
    logger = _logger("visible", ProcessSafeRotatingFileHandler(path))
    for i in range(3):
        logger.info("r%d", i)
        assert _messages([path])[-1] == f"r{i}"


@pytest.mark.parametrize(
    "cls", [ProcessSafeRotatingFileHandler, ProcessSafeTimedRotatingFileHandler]
)
def test_a_fragment_left_by_a_killed_writer_never_swallows_a_record(tmp_path: Path, cls) -> None:
    # A writer killed inside write() can leave the start of its line with no newline.
    path = tmp_path / "app.log"
    path.write_bytes(b'{"message": "whole"}\n{"message": "tor')
    log = _logger("frag", cls(path))
    log.info("after")
    log.info("next")
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    parsed = []
    for line in lines[:-1]:
        try:
            parsed.append(json.loads(line)["message"])
        except ValueError:
            assert line.startswith(b'{"message": "tor')  # only the fragment's own line is bad
    assert parsed == ["whole", "after", "next"]


@pytest.mark.parametrize(
    "cls", [ProcessSafeRotatingFileHandler, ProcessSafeTimedRotatingFileHandler]
)
def test_a_fragment_after_our_own_last_line_is_noticed(tmp_path: Path, cls) -> None:
    # The check is skipped when a line starts where our previous one ended; not otherwise.
    path = tmp_path / "app.log"
    log = _logger(f"frag_after_{cls.__name__}", cls(path))
    log.info("first")
    with path.open("ab") as other:
        other.write(b'{"message": "killed mid-wri')
    log.info("second")
    log.info("third")
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    parsed = []
    for line in lines[:-1]:
        try:
            parsed.append(json.loads(line)["message"])
        except ValueError:
            assert line.startswith(b'{"message": "killed mid-wri')
    assert parsed == ["first", "second", "third"]


def test_timed_rotation_names_files_by_period(tmp_path: Path) -> None:
    path = tmp_path / "t.log"
    handler = ProcessSafeTimedRotatingFileHandler(path, when="S", utc=True, backupCount=2)
    logger = _logger("timed_names", handler)
    for i in range(3):
        logger.info("n%d", i)
        time.sleep(1.02)
    logger.info("last")
    dated = handler.rotated_files()
    assert len(dated) == 2  # backupCount
    for rotated in dated:
        assert handler.extMatch.match(rotated.name.removeprefix("t.log."))
    assert _messages([path]) == ["last"]


def test_a_file_from_an_earlier_period_is_rotated_at_the_first_record(tmp_path: Path) -> None:
    path = tmp_path / "events.log"
    path.write_text('{"message": "yesterday"}\n')
    yesterday = time.time() - 86400
    os.utime(path, (yesterday, yesterday))
    handler = ProcessSafeTimedRotatingFileHandler(path, when="midnight")
    _logger("earlier", handler).info("today")
    suffix = time.strftime("%Y-%m-%d", time.localtime(yesterday))
    assert _messages([tmp_path / f"events.log.{suffix}"]) == ["yesterday"]
    assert _messages([path]) == ["today"]


def test_an_existing_dated_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "events.log"
    yesterday = time.time() - 86400
    suffix = time.strftime("%Y-%m-%d", time.localtime(yesterday))
    (tmp_path / f"events.log.{suffix}").write_text('{"message": "rotated earlier"}\n')
    path.write_text('{"message": "late"}\n')
    os.utime(path, (yesterday, yesterday))
    handler = ProcessSafeTimedRotatingFileHandler(path, when="midnight")
    _logger("no_overwrite", handler).info("today")
    assert _messages([tmp_path / f"events.log.{suffix}"]) == ["rotated earlier"]
    assert _messages([path]) == ["late", "today"]


@pytest.mark.parametrize(
    ("when", "interval", "t", "expected"),
    [
        ("S", 10, 1_000_005.5, 1_000_010.0),
        ("M", 1, 3_600 * 5 + 61, 3_600 * 5 + 120),
        ("H", 2, 3_600 * 5 + 61, 3_600 * 6),
        ("D", 1, 86_400 * 3 + 5, 86_400 * 4),
        ("midnight", 2, 86_400 * 3 + 5, 86_400 * 5),
        ("W0", 1, 86_400 * 6 + 5, 86_400 * 12),  # the Monday 1970-01-12 ends then
    ],
)
def test_boundaries_are_aligned_to_the_clock_and_calendar(
    tmp_path: Path, when, interval, t, expected
) -> None:
    handler = ProcessSafeTimedRotatingFileHandler(
        tmp_path / "p.log", when=when, interval=interval, utc=True, delay=True
    )
    assert handler.computeRollover(t) == expected


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [
        (ProcessSafeRotatingFileHandler, {"maxBytes": -1}),
        (ProcessSafeRotatingFileHandler, {"backupCount": -1}),
        (ProcessSafeRotatingFileHandler, {"mode": "r"}),
        (ProcessSafeTimedRotatingFileHandler, {"when": "fortnight"}),
        (ProcessSafeTimedRotatingFileHandler, {"interval": 0}),
    ],
)
def test_bad_arguments_are_refused(tmp_path: Path, cls, kwargs) -> None:
    with pytest.raises(InvalidHandlerArgumentError):
        cls(tmp_path / "x.log", **kwargs)


def test_write_mode_truncates_at_first_open(tmp_path: Path) -> None:
    path = tmp_path / "w.log"
    path.write_text('{"message": "old"}\n')
    _logger("truncate", ProcessSafeRotatingFileHandler(path, mode="w")).info("new")
    assert _messages([path]) == ["new"]
