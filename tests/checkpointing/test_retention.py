"""Store-level retention: scope, keep_last, protect, dry runs, and when leftovers are swept."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from checkpointing import CheckpointManager
from checkpointing.store._retention import SWEPT, WRITERS
from checkpointing.store._shards import shard_name
from tests.checkpointing._aging import backdate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def manager(tmp_path):
    return CheckpointManager(tmp_path / "ckpt")


def saved(manager, pipeline_id, stage, days_old):
    """A checkpoint whose own timestamp is ``days_old`` days in the past."""
    cid = manager.save_checkpoint(pipeline_id, stage, pd.DataFrame({"x": [1]}))
    backdate(manager, cid, days_old)
    return cid


def aged(manager, spec):
    """Save ``{(pipeline, stage): [days_old, ...]}`` and re-index; return ids by key."""
    ids = {(p, s): [saved(manager, p, s, d) for d in ages] for (p, s), ages in spec.items()}
    manager.rebuild_registry()
    return ids


def remaining(manager):
    return {e["checkpoint_id"] for e in manager.list_checkpoints()}


def test_retention_applies_to_the_given_pipelines_only(manager):
    ids = aged(manager, {("etl", "s"): [10, 1], ("other", "s"): [30]})
    assert manager.cleanup_old_checkpoints(7, pipeline_id="etl") == 1
    assert remaining(manager) == {ids["etl", "s"][1], *ids["other", "s"]}
    assert manager.cleanup_old_checkpoints(7, pipeline_id=["etl", "other"]) == 1
    assert remaining(manager) == {ids["etl", "s"][1]}


def test_keep_last_keeps_the_newest_of_each_pipeline_and_stage(manager):
    ids = aged(manager, {("etl", "a"): [9, 8, 7.5], ("etl", "b"): [20], ("other", "a"): [10]})
    assert manager.cleanup_old_checkpoints(7, keep_last=2) == 1
    expected = {*ids["etl", "a"][1:], *ids["etl", "b"], *ids["other", "a"]}
    assert remaining(manager) == expected
    # retention_days=0 with keep_last: keep exactly the last N of each stage.
    assert manager.cleanup_old_checkpoints(0, keep_last=1) == 1
    assert remaining(manager) == {ids["etl", "a"][2], *ids["etl", "b"], *ids["other", "a"]}


def test_retention_zero_expires_everything_not_protected(manager):
    ids = aged(manager, {("etl", "s"): [0, 0, 0]})
    assert manager.cleanup_old_checkpoints(0, protect=[ids["etl", "s"][0]]) == 2
    assert remaining(manager) == {ids["etl", "s"][0]}


def test_a_dry_run_returns_what_would_be_deleted_and_deletes_nothing(manager):
    ids = aged(manager, {("etl", "s"): [10, 9, 1], ("other", "s"): [8]})
    before = sorted(p.name for p in manager.checkpoint_dir.rglob("*"))
    plan = manager.cleanup_old_checkpoints(7, dry_run=True)
    assert plan == sorted([*ids["etl", "s"][:2], *ids["other", "s"]])
    assert manager.cleanup_old_checkpoints(7, keep_last=1, dry_run=True) == ids["etl", "s"][:2]
    assert sorted(p.name for p in manager.checkpoint_dir.rglob("*")) == before
    assert manager.cleanup_old_checkpoints(7) == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"retention_days": -1}, "negative"),
        ({"retention_days": float("nan")}, "finite"),
        ({"retention_days": float("inf")}, "finite"),
        ({"keep_last": -1}, "keep_last"),
    ],
)
def test_invalid_retention_is_a_clear_value_error(manager, kwargs, message):
    with pytest.raises(ValueError, match=message):
        manager.cleanup_old_checkpoints(**kwargs)


def test_with_nothing_expired_cleanup_opens_no_shard(manager, caplog):
    aged(manager, {("etl", "s"): [1], ("other", "s"): [2]})
    (manager.checkpoint_dir / shard_name("etl")).write_bytes(b"\x00damaged")
    caplog.set_level(logging.WARNING, logger="checkpointing")
    assert manager.cleanup_old_checkpoints(7, sweep=False) == 0
    assert not caplog.records  # the index's bounds said nothing can be expired


def _leftover(manager, name_of):
    """A temporary file of the store's naming scheme, an hour old."""
    path = manager.checkpoint_dir / f".tmp-{name_of}.parquet-0123456789abcdef"
    path.write_bytes(b"partial")
    hour_ago = time.time() - 3600
    os.utime(path, (hour_ago, hour_ago))
    return path


def test_leftovers_are_swept_after_a_writer_was_killed_not_at_every_cleanup(manager):
    cid = manager.save_checkpoint("etl", "s", pd.DataFrame({"x": [1]}))
    manager.cleanup_old_checkpoints(sweep=True)
    planted = _leftover(manager, cid)
    manager.cleanup_old_checkpoints()  # no evidence of a crash, swept recently: no sweep
    assert planted.exists()
    code = (
        "import os, signal, pandas as pd; from checkpointing import CheckpointManager; "
        f"m = CheckpointManager({str(manager.checkpoint_dir)!r}); "
        "m.save_checkpoint('etl', 'k', pd.DataFrame({'x': [2]})); "
        "os.kill(os.getpid(), signal.SIGKILL)"
    )
    killed = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT, timeout=120)
    assert killed.returncode == -9
    leases = list((manager.checkpoint_dir / WRITERS).iterdir())
    assert len(leases) == 2  # ours and the killed process's
    manager.cleanup_old_checkpoints(grace_seconds=0)
    assert not planted.exists()
    assert len(list((manager.checkpoint_dir / WRITERS).iterdir())) == 1  # only ours


def test_processes_that_end_normally_leave_no_lease(manager, tmp_path):
    code = (
        "import multiprocessing as mp, pandas as pd\n"
        "from checkpointing import CheckpointManager\n"
        f"D = {str(manager.checkpoint_dir)!r}\n"
        "def child():\n"
        "    CheckpointManager(D).save_checkpoint('etl', 'child', pd.DataFrame({'x': [1]}))\n"
        "if __name__ == '__main__':\n"
        "    CheckpointManager(D).save_checkpoint('etl', 'parent', pd.DataFrame({'x': [1]}))\n"
        "    for method in ('fork', 'forkserver', 'spawn'):\n"
        "        p = mp.get_context(method).Process(target=child)\n"
        "        p.start(); p.join(); assert p.exitcode == 0\n"
    )
    script = tmp_path / "writers.py"
    script.write_text(code)
    result = subprocess.run(
        [sys.executable, str(script)], check=False, cwd=ROOT, capture_output=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert len(manager.list_checkpoints()) == 4
    assert list((manager.checkpoint_dir / WRITERS).iterdir()) == []


def test_a_sweep_runs_at_least_weekly_without_evidence(manager):
    cid = manager.save_checkpoint("etl", "s", pd.DataFrame({"x": [1]}))
    manager.cleanup_old_checkpoints(sweep=True)
    planted = _leftover(manager, cid)
    eight_days_ago = time.time() - 8 * 86400
    os.utime(manager.checkpoint_dir / SWEPT, (eight_days_ago, eight_days_ago))
    manager.cleanup_old_checkpoints()
    assert not planted.exists()
