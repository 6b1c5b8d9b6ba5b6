"""The store deletes only what it can prove it wrote; a user's files beside it are never touched."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
import pytest

from checkpointing import CheckpointError, CheckpointManager, Pipeline
from tests._processes import checkpointing_cli

USER_FILES = {
    "tickers.json": b'["AAPL", "MSFT"]\n',
    "prices.parquet": b"PAR1 not really, but the user's own file PAR1",
    "notes.json": b'{"checkpoint_id": "notes"}\n',
    ".tmp-notes.txt-0123456789abcdef": b"another program's temporary file",
    "etl_s_20240101T000000000000Z_nothex!!.parquet": b"looks close, is not ours",
}


def plant_user_files(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    hour_ago = time.time() - 3600
    for name, data in USER_FILES.items():
        (directory / name).write_bytes(data)
        os.utime(directory / name, (hour_ago, hour_ago))


def assert_user_files_intact(directory: Path) -> None:
    for name, data in USER_FILES.items():
        assert (directory / name).read_bytes() == data, f"{name} was changed or deleted"


def test_a_run_and_the_cleanup_command_leave_the_users_files_in_the_checkpoint_dir(tmp_path):
    data = tmp_path / "data"
    plant_user_files(data)
    pipeline = Pipeline("etl", checkpoint_dir=data, log_dir=tmp_path / "logs")
    with pipeline, pipeline.stage("extract") as stage:  # cleanup runs at the end by default
        stage.checkpoint(pd.DataFrame({"close": [1.0, 2.0]}))
    assert_user_files_intact(data)
    for argv in (["cleanup"], ["cleanup", "--retention-days", "0"]):
        result = checkpointing_cli("--dir", str(data), *argv)
        assert result.returncode == 0, result.stderr
        assert_user_files_intact(data)
    manager = CheckpointManager(data)
    manager.cleanup_old_checkpoints(0, grace_seconds=0, sweep=True)
    manager.rebuild_registry()
    assert_user_files_intact(data)


def test_the_cleanup_command_refuses_a_directory_that_is_not_a_store(tmp_path):
    plant_user_files(tmp_path)
    result = checkpointing_cli("--dir", str(tmp_path), "cleanup", "--retention-days", "0")
    assert result.returncode == 1
    assert "not a checkpoint store" in result.stderr and "Traceback" not in result.stderr
    assert_user_files_intact(tmp_path)
    with pytest.raises(CheckpointError, match="nothing was deleted"):
        CheckpointManager(tmp_path).cleanup_old_checkpoints(0, sweep=True)
    assert_user_files_intact(tmp_path)


def test_delete_refuses_names_that_are_not_checkpoint_ids(tmp_path):
    manager = CheckpointManager(tmp_path)
    manager.save_checkpoint("etl", "s", pd.DataFrame({"x": [1]}))
    plant_user_files(tmp_path)
    assert manager.delete_checkpoint("tickers") is False
    assert manager.delete_checkpoint("notes") is False
    result = checkpointing_cli("--dir", str(tmp_path), "delete", "tickers")
    assert result.returncode == 1 and "no checkpoint" in result.stderr
    assert_user_files_intact(tmp_path)


def test_the_leftover_sweep_removes_only_the_stores_own_temporary_and_orphan_files(tmp_path):
    manager = CheckpointManager(tmp_path)
    kept = manager.save_checkpoint("etl", "s", pd.DataFrame({"x": [1]}))
    orphan = manager.save_checkpoint("etl", "s", pd.DataFrame({"x": [2]}))
    (tmp_path / f"{orphan}.json").unlink()  # a save interrupted between data and manifest
    ours = tmp_path / f".tmp-{kept}.json-0123456789abcdef"
    ours.write_bytes(b"partial")
    plant_user_files(tmp_path)
    assert manager.cleanup_old_checkpoints(grace_seconds=0, sweep=True) == 0
    assert not ours.exists()
    assert not (tmp_path / f"{orphan}.parquet").exists()
    assert_user_files_intact(tmp_path)
    assert [e["checkpoint_id"] for e in manager.list_checkpoints()] == [kept]


def test_a_users_json_file_is_never_read_as_a_manifest(tmp_path, caplog):
    manager = CheckpointManager(tmp_path)
    manager.save_checkpoint("etl", "s", pd.DataFrame({"x": [1]}))
    plant_user_files(tmp_path)
    assert manager.rebuild_registry() == 1
    assert not [r for r in caplog.records if "notes" in r.getMessage()]
