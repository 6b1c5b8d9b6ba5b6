"""Real processes sharing one directory: concurrent saves, save+delete+cleanup, SIGKILL."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from checkpointing import CheckpointManager, CheckpointNotFoundError

SAVES_PER_PROCESS = 15


def _frame(i: int, rows: int = 200) -> pd.DataFrame:
    return pd.DataFrame({"i": np.full(rows, i), "x": np.arange(rows, dtype="float64")})


def _save_many(directory: str, worker: int, count: int) -> list[str]:
    manager = CheckpointManager(directory)
    return [manager.save_checkpoint("etl", f"w{worker}", _frame(i)) for i in range(count)]


def _delete_listed(directory: str, rounds: int) -> list[str]:
    manager = CheckpointManager(directory)
    deleted = []
    for _ in range(rounds):
        for entry in manager.list_checkpoints(stage="w0")[::2]:
            if manager.delete_checkpoint(entry["checkpoint_id"]):
                deleted.append(entry["checkpoint_id"])
    return deleted


def _cleanup(directory: str, rounds: int) -> int:
    manager = CheckpointManager(directory)
    return sum(manager.cleanup_old_checkpoints(retention_days=1) for _ in range(rounds))


def _assert_consistent(manager: CheckpointManager, *, registry_may_lag: bool = False) -> set[str]:
    """Every listed checkpoint has a manifest and verifies; registry == manifests unless a
    writer was killed between its manifest and its registry entry (the next cleanup re-indexes
    such a checkpoint)."""
    listed = [e["checkpoint_id"] for e in manager.list_checkpoints()]
    assert len(listed) == len(set(listed))
    manifests = {
        p.stem
        for p in manager.checkpoint_dir.glob("*.json")
        if p.name != "checkpoint_metadata.json"
    }
    if registry_may_lag:
        assert set(listed) <= manifests
    else:
        assert set(listed) == manifests
    for checkpoint_id in listed:
        manager.verify_checkpoint(checkpoint_id)
    return set(listed)


@pytest.fixture
def spawn():
    return multiprocessing.get_context("spawn")


def test_four_processes_saving_at_once_lose_and_duplicate_nothing(tmp_path, spawn):
    with spawn.Pool(4) as pool:
        results = pool.starmap(
            _save_many, [(str(tmp_path), w, SAVES_PER_PROCESS) for w in range(4)]
        )
    saved = [cid for ids in results for cid in ids]
    assert len(saved) == len(set(saved)) == 4 * SAVES_PER_PROCESS
    manager = CheckpointManager(tmp_path)
    assert _assert_consistent(manager) == set(saved)
    for ids in results:
        assert ids == sorted(ids)  # one process, one stage: ids sort by time
    for worker, ids in enumerate(results):
        data = manager.load_checkpoint(ids[-1])["data"]
        pd.testing.assert_frame_equal(data, _frame(SAVES_PER_PROCESS - 1))
        assert manager.get_latest_checkpoint("etl", stage=f"w{worker}") == ids[-1]


def test_save_delete_and_cleanup_at_once(tmp_path, spawn):
    with spawn.Pool(4) as pool:
        saves = [
            pool.apply_async(_save_many, (str(tmp_path), w, SAVES_PER_PROCESS)) for w in range(2)
        ]
        deleter = pool.apply_async(_delete_listed, (str(tmp_path), 30))
        cleaner = pool.apply_async(_cleanup, (str(tmp_path), 10))
        saved = [cid for result in saves for cid in result.get(timeout=120)]
        deleted = deleter.get(timeout=120)
        assert cleaner.get(timeout=120) == 0  # nothing is a day old
    manager = CheckpointManager(tmp_path)
    survivors = _assert_consistent(manager)
    assert len(deleted) == len(set(deleted))
    assert survivors == set(saved) - set(deleted)
    for checkpoint_id in deleted:
        with pytest.raises(CheckpointNotFoundError):
            manager.load_checkpoint(checkpoint_id)


_KILL_LOOP = """
import sys
import numpy as np, pandas as pd
from checkpointing import CheckpointManager
m = CheckpointManager(sys.argv[1])
df = pd.DataFrame({"x": np.random.default_rng(0).random(50_000)})
print("ready", flush=True)
i = 0
while True:
    m.save_checkpoint("etl", "loop", df, metadata={"i": i})
    i += 1
"""


def test_sigkill_during_saves_leaves_a_consistent_store(tmp_path):
    directory = tmp_path / "ckpt"
    for delay in (0.0, 0.003, 0.007, 0.012, 0.02, 0.035, 0.05, 0.08, 0.12, 0.2):
        proc = subprocess.Popen(
            [sys.executable, "-c", _KILL_LOOP, str(directory)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        _assert_consistent(CheckpointManager(directory), registry_may_lag=True)
    manager = CheckpointManager(directory)
    listed = _assert_consistent(manager, registry_may_lag=True)
    assert listed, "the save loop never completed a checkpoint"
    manager.cleanup_old_checkpoints(grace_seconds=0)
    listed = _assert_consistent(manager)
    names = {p.name for p in directory.iterdir()}
    assert not [n for n in names if n.startswith(".tmp-")]
    stems = {n.rsplit(".", 1)[0] for n in names if n.endswith((".json", ".parquet"))}
    stems -= {"checkpoint_metadata"}
    assert stems == listed
