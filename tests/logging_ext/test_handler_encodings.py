"""Process-safe handlers in any encoding: each record once, one byte order mark at most."""

from __future__ import annotations

import codecs
import logging
import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from logging_ext import ProcessSafeRotatingFileHandler, ProcessSafeTimedRotatingFileHandler
from tests.logging_ext import _workers

MARKS = {
    "utf-16": (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE),
    "utf-32": (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE),
    "utf-8-sig": (codecs.BOM_UTF8,),
}
ENCODINGS = ["utf-16", "utf-16-le", "utf-32", "cp037", "utf-8-sig", "latin-1"]
HANDLERS = [ProcessSafeRotatingFileHandler, ProcessSafeTimedRotatingFileHandler]


def _write(handler: logging.Handler, name: str, messages: list[str]) -> None:
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger(name)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    for message in messages:
        logger.info(message)
    logger.removeHandler(handler)
    handler.close()


def _marks_in(raw: bytes, encoding: str) -> int:
    return sum(raw.count(mark) for mark in MARKS.get(encoding, ()))


@pytest.mark.parametrize("cls", HANDLERS)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_each_record_is_written_once_with_at_most_one_mark_at_the_start(
    tmp_path: Path, cls: Any, encoding: str
) -> None:
    path = tmp_path / "app.log"
    messages = [f"record {i} é" if encoding != "cp037" else f"record {i}" for i in range(5)]
    _write(cls(path, encoding=encoding), f"enc.{encoding}", messages[:3])
    _write(cls(path, encoding=encoding), f"enc2.{encoding}", messages[3:])  # reopened: appends
    raw = path.read_bytes()
    assert raw.decode(encoding).splitlines() == messages
    if encoding in MARKS:
        assert raw.startswith(MARKS[encoding])
        assert _marks_in(raw, encoding) == 1
    else:
        assert not raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF8))


def test_the_stdlib_writes_the_same_bytes(tmp_path: Path) -> None:
    for encoding in ENCODINGS:
        ours, stdlib = tmp_path / f"ours.{encoding}", tmp_path / f"stdlib.{encoding}"
        messages = ["one", "two", "three"]
        _write(ProcessSafeRotatingFileHandler(ours, encoding=encoding), "same.a", messages)
        _write(logging.FileHandler(stdlib, encoding=encoding), "same.b", messages)
        _write(ProcessSafeRotatingFileHandler(ours, encoding=encoding), "same.a", messages)
        _write(logging.FileHandler(stdlib, encoding=encoding), "same.b", messages)
        assert ours.read_bytes() == stdlib.read_bytes(), encoding


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig"])
def test_processes_rotating_one_file_put_one_mark_in_each_file(
    tmp_path: Path, encoding: str
) -> None:
    path = tmp_path / "shared.log"
    workers, count = 3, 300
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_workers.write_encoded, args=(str(path), w, count, 1024, encoding))
        for w in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0
    files = sorted(tmp_path.glob("shared.log*"))
    assert len(files) > 4  # it rotated
    lines = []
    for file in files:
        raw = file.read_bytes()
        assert raw.startswith(MARKS[encoding])
        assert _marks_in(raw, encoding) == 1
        lines.extend(raw.decode(encoding).splitlines())
    assert sorted(lines) == sorted(f"{w}-{i}" for w in range(workers) for i in range(count))
