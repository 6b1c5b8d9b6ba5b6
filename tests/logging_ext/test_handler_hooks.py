"""namer, rotator and errors: honoured as by the stdlib, and safe across processes."""

from __future__ import annotations

import gzip
import json
import logging
import multiprocessing
from pathlib import Path

import pytest

from logging_ext import ProcessSafeRotatingFileHandler, ProcessSafeTimedRotatingFileHandler
from tests.logging_ext import _workers


def _run(target, argument_lists) -> None:
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=target, args=args) for args in argument_lists]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0


def _ids(files: list[Path]) -> list[tuple[int, int]]:
    ids = []
    for path in files:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        for line in raw.split(b"\n")[:-1]:
            worker, i = json.loads(line)["message"].split(" ")[0].split("-")
            ids.append((int(worker), int(i)))
    return ids


def test_processes_rotating_through_a_compressing_rotator_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.log"
    workers, count = 4, 1500
    _run(_workers.write_compressed, [(str(path), w, count, 16 * 1024) for w in range(workers)])
    files = sorted(tmp_path.glob("shared.log*"))
    compressed = [p for p in files if p.name.endswith(".gz")]
    assert len(compressed) > 10
    assert [p.name for p in files if p not in compressed] == ["shared.log"]
    ids = _ids(files)
    assert len(ids) == workers * count
    assert set(ids) == {(w, i) for w in range(workers) for i in range(count)}


def test_processes_rotating_by_time_through_a_rotator_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "timed.log"
    workers, count = 3, 120
    _run(_workers.write_compressed_timed, [(str(path), w, count, 0.02) for w in range(workers)])
    files = sorted(tmp_path.glob("timed.log*"))
    assert len([p for p in files if p.name.endswith(".gz")]) >= 2
    ids = _ids(files)
    assert len(ids) == workers * count
    assert set(ids) == {(w, i) for w in range(workers) for i in range(count)}


@pytest.mark.parametrize(
    ("errors", "written"), [(None, b"caf\\xe9\n"), ("replace", b"caf?\n"), ("ignore", b"caf\n")]
)
def test_errors_chooses_how_unencodable_text_is_written(
    tmp_path: Path, errors: str | None, written: bytes
) -> None:
    path = tmp_path / "ascii.log"
    handler = ProcessSafeRotatingFileHandler(path, encoding="ascii", errors=errors)
    handler.emit(logging.makeLogRecord({"msg": "café"}))
    handler.close()
    assert path.read_bytes() == written


def test_strict_errors_report_the_record_once_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ascii.log"
    handler = ProcessSafeTimedRotatingFileHandler(path, encoding="ascii", errors="strict")
    handler.emit(logging.makeLogRecord({"msg": "café"}))
    handler.emit(logging.makeLogRecord({"msg": "plain"}))
    handler.close()
    assert path.read_bytes() == b"plain\n"
    assert "UnicodeEncodeError" in capsys.readouterr().err


def test_a_namer_names_the_timed_rotated_files_and_the_old_ones_are_pruned(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.log"
    handler = ProcessSafeTimedRotatingFileHandler(path, when="S", backupCount=2, delay=True)
    handler.namer = _workers.gz_namer
    for day in ("2025-01-01", "2025-01-02", "2025-01-03"):
        (tmp_path / f"t.log.{day}_00-00-00.gz").write_bytes(b"")
    (tmp_path / "t.log.2025-01-01_00-00-00").write_bytes(b"")  # not a name the namer makes
    path.write_text("current\n")
    handler.doRollover()
    names = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))
    assert "t.log.2025-01-01_00-00-00" in names
    rotated = [n for n in names if n.endswith(".gz")]
    assert len(rotated) == 2
    assert "t.log.2025-01-03_00-00-00.gz" in rotated
    assert not path.exists()  # delay: reopened at the next record, as the stdlib does
    handler.close()
