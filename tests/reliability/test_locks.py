"""A lock left by a killed process never blocks; a lock held by a stuck process times out.

The registry lock is an OS file lock (``flock`` through filelock): the kernel releases it when
its holder dies, even by SIGKILL, so the lock file left on disk blocks no one.
"""

from __future__ import annotations

import os
import pickle
import signal

import pandas as pd
import pytest

from checkpointing import CheckpointError, CheckpointManager, LockTimeoutError
from checkpointing.store._layout import LOCK
from tests.reliability import _workers

FRAME = pd.DataFrame({"x": [1.0, 2.0]})


def _hold(procs, directory, seconds):
    ready = procs.Event()
    holder = procs.Process(
        target=_workers.hold_registry_lock, args=(str(directory), ready, seconds)
    )
    holder.start()
    assert ready.wait(60)
    return holder


@pytest.mark.parametrize("round_", range(3))
def test_a_lock_held_by_a_sigkilled_process_is_released_by_the_kernel(tmp_path, procs, round_):
    directory = tmp_path / "ckpt"
    CheckpointManager(directory).save_checkpoint("etl", "before", FRAME)
    holder = _hold(procs, directory, 3600)
    # While the holder lives, the lock really is held: a write waits; a read does not.
    waiting = CheckpointManager(directory, lock_timeout=0.2)
    with pytest.raises(LockTimeoutError):
        waiting.save_checkpoint("etl", "blocked", FRAME)
    assert [e["stage"] for e in waiting.list_checkpoints()] == ["before"]
    os.kill(holder.pid, signal.SIGKILL)
    holder.join()
    assert holder.exitcode == -signal.SIGKILL
    assert (directory / LOCK).exists()  # the file stays; the lock does not
    # lock_timeout=0 would fail at once if anything still held the lock.
    manager = CheckpointManager(directory, lock_timeout=0)
    saved = manager.save_checkpoint("etl", "after", FRAME)
    assert {e["stage"] for e in manager.list_checkpoints()} == {"before", "after"}
    manager.verify_checkpoint(saved)


def test_a_lock_held_by_a_live_stuck_process_times_out_with_a_recovery_hint(tmp_path, procs):
    directory = tmp_path / "ckpt"
    holder = _hold(procs, directory, 3600)
    try:
        manager = CheckpointManager(directory, lock_timeout=0.5)
        with pytest.raises(LockTimeoutError) as info:
            manager.save_checkpoint("etl", "stuck", FRAME)
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.join()
    error = info.value
    assert isinstance(error, CheckpointError)
    assert isinstance(error, TimeoutError)
    assert error.timeout == 0.5
    assert error.path == str(directory / LOCK)
    message = str(error)
    assert "0.5 s" in message
    assert f"delete {directory / LOCK}" in message  # tells the user how to recover
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.path, copy.timeout, str(copy)) == (error.path, error.timeout, message)
    # Nothing of the failed save is visible once the stuck process is gone.
    assert CheckpointManager(directory).list_checkpoints() == []
