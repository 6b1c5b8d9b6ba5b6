"""Fixtures of the reliability suite: a process context whose children start in milliseconds."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from tests._json import loads_strict
from tests.reliability._workers import PRELOAD


@pytest.fixture(scope="session")
def procs() -> Any:
    """A ``forkserver`` context with pandas, pyarrow and both packages preloaded.

    Each child is a real, separate process forked from a clean single-threaded server, so a
    kill point costs a fork instead of a fresh interpreter.
    """
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def strict_json_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of ``path`` parsed as strict JSON (no NaN/Infinity); fails on any bad line."""
    records = []
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), f"{path} ends with a partial line"
    for number, line in enumerate(data.split(b"\n")[:-1], 1):
        try:
            record = loads_strict(line)
        except ValueError as exc:
            pytest.fail(f"{path}:{number} is not strict JSON ({exc}): {line[:200]!r}")
        assert isinstance(record, dict)
        records.append(record)
    return records


def json_lines_and_fragments(path: Path) -> tuple[list[dict[str, Any]], list[bytes]]:
    """The strict JSON records of ``path``, and the lines that are fragments of a killed write.

    Linux can cut a write short when the writer is SIGKILLed between two pages of the copy, so
    a killed writer may leave the start of its last record. Such a line must be the start of a
    record (or a fragment glued to a whole record that is repeated on the next line); any other
    unparseable line fails the test.
    """
    records = []
    fragments = []
    for line in path.read_bytes().split(b"\n"):
        if not line:
            continue
        try:
            record = loads_strict(line)
        except ValueError:
            assert line.startswith(b'{"timestamp": "'), f"{path}: not a record: {line[:200]!r}"
            fragments.append(line)
            continue
        assert isinstance(record, dict)
        records.append(record)
    return records, fragments
