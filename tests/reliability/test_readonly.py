"""Reading a store never needs write access, and never shows a torn view.

The suite runs as root, for whom file modes do not stop writes (and chattr or a read-only bind
mount are not available). So the reading process is started as root, imports what it needs,
then becomes ``nobody`` with ``os.setuid`` and reads a store in a directory it cannot write: the
lock file cannot be opened for writing, nothing can be created.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from checkpointing import CheckpointManager
from checkpointing.store._shards import shard_name
from tests.reliability import _workers

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def public_dir() -> Iterator[Path]:
    """A directory every user can read but only root can write (tmp_path is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="stagepoint-readonly-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def as_nobody(call: str) -> dict[str, Any]:
    child = subprocess.run(
        [sys.executable, "-c", f"from tests.reliability._workers import *; {call}"],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == 0, child.stderr
    return json.loads(child.stdout.splitlines()[-1])


def make_store(directory: Path) -> list[str]:
    manager = CheckpointManager(directory)
    ids = [manager.save_checkpoint("etl", s, pd.DataFrame({"x": [1, 2, 3]})) for s in "abc"]
    manager.save_checkpoint("other", "a", pd.DataFrame({"x": [4]}))
    return ids


@pytest.mark.parametrize("damage", ["none", "shard deleted", "registry deleted"])
def test_readers_need_no_write_access(public_dir, damage):
    warm, store = public_dir / "warm", public_dir / "store"
    make_store(warm)
    ids = make_store(store)
    if damage == "shard deleted":  # a reader would rebuild it, but cannot write: reads manifests
        (store / shard_name("etl")).unlink()
    elif damage == "registry deleted":
        shutil.rmtree(store / "registry")
    before = sorted(p.relative_to(store) for p in store.rglob("*"))
    result = as_nobody(f"read_as_nobody({str(store)!r}, {str(warm)!r})")
    assert result["uid"] == _workers.NOBODY and result["writable"] is False
    assert result["latest"] == ids[-1]
    assert result["list_etl"] == ids[::-1]
    assert len(result["list"]) == 4
    assert result["progress"] == 3
    assert result["loaded_rows"] == 3
    for command in ("cli_list", "cli_verify", "cli_progress", "cli_show"):
        assert result[command]["code"] == 0, result[command]
    assert result["cli_verify"]["out"]["checked"] == 4
    assert result["cli_verify"]["out"]["bad"] == []
    assert result["cli_progress"]["out"]["completed_stages"] == ["a", "b", "c"]
    assert sorted(p.relative_to(store) for p in store.rglob("*")) == before  # nothing written


def test_a_read_only_reader_never_sees_a_torn_view_while_a_writer_saves_and_compacts(
    public_dir, procs, capsys
):
    store = public_dir / "store"
    ready = procs.Event()
    writer = procs.Process(target=_workers.save_while_read, args=(str(store), 3, 4.0, ready))
    writer.start()
    try:
        assert ready.wait(60)
        result = as_nobody(f"list_as_nobody({str(store)!r}, 3.0)")
    finally:
        writer.join(60)
    assert writer.exitcode == 0
    assert result["rounds"] > 10 and result["seen"] > 10
    assert result["torn"] == 0, result
    assert result["unreadable"] == 0, result
    with capsys.disabled():
        print(
            f"\n[read-only reader] rounds={result['rounds']} checkpoints seen={result['seen']} "
            "torn views=0 unreadable=0"
        )
