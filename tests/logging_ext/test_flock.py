"""The rotation lock: waiting sleeps in the kernel, and a replaced lock file is never trusted."""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import os
import threading
import time
from pathlib import Path

from logging_ext._flock import LockFile
from tests.logging_ext import _workers


def _wakeups(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("voluntary_ctxt_switches"))
    return int(line.split()[1])


def test_a_process_waiting_to_rotate_sleeps_until_the_lock_is_released(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text('{"message": "fills the file"}\n')
    lock = os.open(tmp_path / ".app.log.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(lock, fcntl.LOCK_EX)
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    child = context.Process(target=_workers.rotate_once, args=(str(path), ready))
    child.start()
    try:
        assert ready.wait(60)
        time.sleep(0.5)  # the child is now waiting for the lock
        assert child.pid is not None
        first = _wakeups(child.pid)
        time.sleep(1.0)
        # A poll every 50 ms would wake the waiter about 20 times in this second.
        assert _wakeups(child.pid) - first <= 2
        assert not (tmp_path / "app.log.1").exists()
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        os.close(lock)
        child.join(60)
    assert child.exitcode == 0
    assert json.loads((tmp_path / "app.log").read_text())["message"] == "after the rotation"
    assert (tmp_path / "app.log.1").read_text() == '{"message": "fills the file"}\n'


def test_a_lock_file_deleted_and_recreated_is_reopened(tmp_path: Path) -> None:
    path = str(tmp_path / "logs" / ".app.log.lock")
    first, second = LockFile(path), LockFile(path)
    with first.exclusive():
        pass  # first keeps its descriptor on the original file
    Path(path).unlink()
    taken = threading.Event()

    def take_first() -> None:
        with first.exclusive():
            taken.set()

    with second.exclusive():  # holds the new file at the path
        waiter = threading.Thread(target=take_first)
        waiter.start()
        waiter.join(0.5)
        assert not taken.is_set()  # first did not lock its stale, deleted file
    waiter.join(60)
    assert taken.is_set()
    first.close()
    second.close()


def test_shared_holders_exclude_an_exclusive_one(tmp_path: Path) -> None:
    path = str(tmp_path / ".x.lock")
    reader, writer = LockFile(path), LockFile(path)
    taken = threading.Event()

    def take_exclusive() -> None:
        with writer.exclusive(), writer.exclusive():  # re-entrant
            taken.set()

    with reader.shared():
        thread = threading.Thread(target=take_exclusive)
        thread.start()
        thread.join(0.5)
        assert not taken.is_set()
    thread.join(60)
    assert taken.is_set()
