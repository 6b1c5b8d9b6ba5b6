"""CheckpointManager: load verification, queries, deletion, retention and leftovers."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import zlib
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import xxhash

from checkpointing import (
    CheckpointManager,
    CheckpointNotFoundError,
    IntegrityError,
    InvalidNameError,
)
from checkpointing.store._layout import STORE_FILES
from tests.checkpointing._aging import age_checkpoint


@pytest.fixture
def manager(tmp_path):
    return CheckpointManager(tmp_path / "ckpt")


def frame(n=1000, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"price": rng.random(n), "volume": rng.integers(0, 1000, n)},
        index=pd.date_range("2024-01-01", periods=n, freq="min", tz="UTC"),
    )


def test_directory_is_created_on_first_write(tmp_path):
    manager = CheckpointManager(tmp_path / "a" / "b")
    assert not manager.checkpoint_dir.exists()
    assert manager.list_checkpoints() == []
    assert manager.cleanup_old_checkpoints() == 0
    assert not manager.checkpoint_dir.exists()
    manager.save_checkpoint("etl", "s", frame(3))
    assert manager.checkpoint_dir.is_dir()


def test_manifest_fields(manager):
    checkpoint_id = manager.save_checkpoint("etl", "extract", frame(10), metadata={"k": 1})
    state = manager.get_state(checkpoint_id)
    data_file = manager.checkpoint_dir / f"{checkpoint_id}.parquet"
    import hashlib

    assert state["data_hash"] == hashlib.sha256(data_file.read_bytes()).hexdigest()
    assert state["data_size"] == data_file.stat().st_size
    assert datetime.fromisoformat(state["timestamp"]).utcoffset() == timedelta(0)
    assert state["columns"] == {"price": "float64", "volume": "int64"}
    assert state["rows"] == 10
    assert state["pid"] == os.getpid()
    assert state["data_xxh3"] == xxhash.xxh3_64_hexdigest(data_file.read_bytes())
    assert "data_crc32" not in state
    for key in ("format_version", "pipeline_id", "stage", "compression", "host"):
        assert key in state


@pytest.mark.parametrize("compression", ["snappy", "zstd", "gzip", "none"])
def test_compression_codecs(tmp_path, compression):
    manager = CheckpointManager(tmp_path, compression=compression)
    checkpoint_id = manager.save_checkpoint("etl", "s", frame(50))
    pd.testing.assert_frame_equal(manager.load_checkpoint(checkpoint_id)["data"], frame(50))


def test_unknown_compression_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="compression"):
        CheckpointManager(tmp_path, compression="rar")


@pytest.mark.parametrize(("pipeline_id", "stage"), [("a/b", "s"), ("etl", ".."), ("", "s")])
def test_invalid_names_write_nothing(tmp_path, pipeline_id, stage):
    manager = CheckpointManager(tmp_path / "ckpt")
    with pytest.raises(InvalidNameError):
        manager.save_checkpoint(pipeline_id, stage, frame(3))
    assert not manager.checkpoint_dir.exists()


def corrupt_flip(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def corrupt_truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])


def corrupt_remove(path):
    path.unlink()


@pytest.mark.parametrize("damage", [corrupt_flip, corrupt_truncate, corrupt_remove])
def test_damaged_data_raises_integrity_error(manager, damage):
    checkpoint_id = manager.save_checkpoint("etl", "s", frame())
    damage(manager.checkpoint_dir / f"{checkpoint_id}.parquet")
    with pytest.raises(IntegrityError) as info:
        manager.load_checkpoint(checkpoint_id)
    assert info.value.checkpoint_id == checkpoint_id
    with pytest.raises(IntegrityError):
        manager.verify_checkpoint(checkpoint_id)


def test_swapped_file_of_the_same_size_raises(tmp_path):
    manager = CheckpointManager(tmp_path, compression="none")  # equal shapes, equal sizes
    first = manager.save_checkpoint("etl", "s", pd.DataFrame({"x": np.arange(100.0)}))
    second = manager.save_checkpoint("etl", "s", pd.DataFrame({"x": np.arange(100.0) + 0.5}))
    a = manager.checkpoint_dir / f"{first}.parquet"
    b = manager.checkpoint_dir / f"{second}.parquet"
    assert a.stat().st_size == b.stat().st_size
    a.write_bytes(b.read_bytes())
    with pytest.raises(IntegrityError, match="checksum"):
        manager.load_checkpoint(first)


def test_sha256_mismatch_with_matching_crc_is_caught_by_verify(manager):
    checkpoint_id = manager.save_checkpoint("etl", "s", frame(10))
    path = manager.checkpoint_dir / f"{checkpoint_id}.json"
    state = json.loads(path.read_text())
    state["data_hash"] = "0" * 64
    path.write_text(json.dumps(state))
    manager.load_checkpoint(checkpoint_id)  # the cheap per-load check still passes
    with pytest.raises(IntegrityError, match="SHA-256"):
        manager.verify_checkpoint(checkpoint_id)


def test_corrupt_manifest_raises_integrity_error(manager):
    checkpoint_id = manager.save_checkpoint("etl", "s", frame(10))
    (manager.checkpoint_dir / f"{checkpoint_id}.json").write_text("{not json")
    with pytest.raises(IntegrityError, match="manifest"):
        manager.load_checkpoint(checkpoint_id)


@pytest.mark.parametrize("method", ["load_checkpoint", "get_state", "verify_checkpoint"])
def test_unknown_id_raises_not_found(manager, method):
    with pytest.raises(CheckpointNotFoundError) as info:
        getattr(manager, method)("etl_s_20240101T000000000000Z_00000000")
    assert isinstance(info.value, KeyError)


def test_ids_that_escape_the_directory_are_rejected(manager):
    with pytest.raises(InvalidNameError):
        manager.load_checkpoint("../etc/passwd")


def test_list_latest_and_filters(manager):
    ids = [manager.save_checkpoint("etl", stage, frame(5)) for stage in ("a", "b", "a")]
    other = manager.save_checkpoint("other", "a", frame(5))
    listed = manager.list_checkpoints()
    assert [e["checkpoint_id"] for e in listed] == [other, *reversed(ids)]
    assert [e["checkpoint_id"] for e in manager.list_checkpoints("etl", stage="a")] == [
        ids[2],
        ids[0],
    ]
    assert manager.get_latest_checkpoint("etl") == ids[2]
    assert manager.get_latest_checkpoint("etl", stage="b") == ids[1]
    assert manager.get_latest_checkpoint("nope") is None
    for key in ("checkpoint_id", "pipeline_id", "stage", "timestamp", "rows", "data_hash"):
        assert key in listed[0]


def test_progress(manager):
    for stage in ("extract", "transform", "extract", "load"):
        manager.save_checkpoint("etl", stage, frame(5))
    progress = manager.get_pipeline_progress("etl")
    assert progress["completed_stages"] == ["extract", "transform", "load"]
    assert progress["total_checkpoints"] == 4
    assert progress["latest_checkpoint"] == manager.get_latest_checkpoint("etl")
    empty = manager.get_pipeline_progress("none")
    assert empty["completed_stages"] == [] and empty["latest_checkpoint"] is None


def test_delete(manager):
    checkpoint_id = manager.save_checkpoint("etl", "s", frame(5))
    assert manager.delete_checkpoint(checkpoint_id) is True
    assert manager.delete_checkpoint(checkpoint_id) is False
    assert manager.list_checkpoints() == []
    assert not list(manager.checkpoint_dir.glob("etl_*"))
    with pytest.raises(CheckpointNotFoundError):
        manager.load_checkpoint(checkpoint_id)


@pytest.mark.parametrize(
    ("age_days", "retention", "deleted"), [(8, 7, 1), (6, 7, 0), (0.5, 0.25, 1)]
)
def test_retention_uses_the_checkpoints_own_timestamp(manager, age_days, retention, deleted):
    old = manager.save_checkpoint("etl", "s", frame(5))
    fresh = manager.save_checkpoint("etl", "s", frame(5))
    age_checkpoint(manager, old, age_days)
    assert manager.cleanup_old_checkpoints(retention_days=retention) == deleted
    remaining = {e["checkpoint_id"] for e in manager.list_checkpoints()}
    assert fresh in remaining
    assert (old in remaining) == (deleted == 0)
    assert (manager.checkpoint_dir / f"{old}.parquet").exists() == (deleted == 0)


def test_cleanup_removes_leftovers_after_the_grace_period(manager):
    kept = manager.save_checkpoint("etl", "s", frame(5))
    orphan_data = manager.save_checkpoint("etl", "s", frame(5))
    (manager.checkpoint_dir / f"{orphan_data}.json").unlink()  # data without manifest
    no_data = manager.save_checkpoint("etl", "s", frame(5))
    (manager.checkpoint_dir / f"{no_data}.parquet").unlink()  # manifest without data
    temp = manager.checkpoint_dir / f".tmp-{orphan_data}.parquet-0123456789abcdef"
    temp.write_bytes(b"partial")
    old = time.time() - 3600
    for path in manager.checkpoint_dir.iterdir():
        os.utime(path, (old, old))
    assert manager.cleanup_old_checkpoints(retention_days=7, sweep=True) == 0
    names = {p.name for p in manager.checkpoint_dir.iterdir()}
    assert names == {f"{kept}.json", f"{kept}.parquet"} | STORE_FILES
    assert [e["checkpoint_id"] for e in manager.list_checkpoints()] == [kept]


def test_fresh_leftovers_are_kept_within_the_grace_period(manager):
    checkpoint_id = manager.save_checkpoint("etl", "s", frame(5))
    (manager.checkpoint_dir / f"{checkpoint_id}.json").unlink()
    temp = manager.checkpoint_dir / f".tmp-{checkpoint_id}.json-0123456789abcdef"
    temp.write_bytes(b"partial")
    manager.cleanup_old_checkpoints(sweep=True)
    assert temp.exists()
    assert (manager.checkpoint_dir / f"{checkpoint_id}.parquet").exists()
    manager.cleanup_old_checkpoints(grace_seconds=0, sweep=True)
    assert not temp.exists()


def test_cleanup_reindexes_a_durable_checkpoint_missing_from_the_registry(manager):
    first = manager.save_checkpoint("etl", "s", frame(5))
    shard = manager.checkpoint_dir / "registry" / "pipelines" / "etl.jsonl"
    before = shard.read_bytes()
    checkpoint_id = manager.save_checkpoint("etl", "s", frame(5))
    shard.write_bytes(before)  # as if killed between the manifest and the registry
    assert manager.get_latest_checkpoint("etl") == first
    manager.cleanup_old_checkpoints(sweep=True)
    assert manager.get_latest_checkpoint("etl") == checkpoint_id


def test_negative_retention_is_rejected(manager):
    with pytest.raises(ValueError, match="negative"):
        manager.cleanup_old_checkpoints(-1)


def test_save_logs_through_the_module_logger(manager, caplog):
    with caplog.at_level(logging.INFO, logger="checkpointing"):
        checkpoint_id = manager.save_checkpoint("etl", "s", frame(5))
    assert any(checkpoint_id in r.getMessage() for r in caplog.records)
    assert all(r.name.startswith("checkpointing.") for r in caplog.records)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("rows", 9, "data has 10 rows, the manifest says 9"),
        ("columns", {"price": "float64"}, "data has columns"),
        ("columns", {"volume": "int64", "price": "float64"}, "data has columns"),
    ],
    ids=["rows", "a column missing", "columns reordered"],
)
def test_verify_compares_the_manifest_rows_and_columns_with_the_data(manager, field, value, reason):
    """Regression: verify passed a manifest whose rows/columns did not describe its data."""
    checkpoint_id = manager.save_checkpoint("etl", "s", frame(10))
    path = manager.checkpoint_dir / f"{checkpoint_id}.json"
    state = json.loads(path.read_text())
    state[field] = value
    path.write_text(json.dumps(state))
    for check in (manager.verify_checkpoint, manager.load_checkpoint):
        with pytest.raises(IntegrityError, match=reason):
            check(checkpoint_id)
    result = subprocess.run(
        [sys.executable, "-m", "checkpointing", "--dir", str(manager.checkpoint_dir), "verify"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert f"BAD  {checkpoint_id}" in result.stdout and reason in result.stdout


def test_a_manifest_of_the_first_format_with_a_crc32_still_loads_and_verifies(manager):
    """Manifests written before data_xxh3 carry data_crc32; they load, verify, and catch damage."""
    checkpoint_id = manager.save_checkpoint("etl", "s", frame(100))
    data_file = manager.checkpoint_dir / f"{checkpoint_id}.parquet"
    path = manager.checkpoint_dir / f"{checkpoint_id}.json"
    state = json.loads(path.read_text())
    del state["data_xxh3"]
    state.update(format_version=1, data_crc32=zlib.crc32(data_file.read_bytes()))
    path.write_text(json.dumps(state))
    pd.testing.assert_frame_equal(manager.load_checkpoint(checkpoint_id)["data"], frame(100))
    manager.verify_checkpoint(checkpoint_id)
    state["data_crc32"] += 1
    path.write_text(json.dumps(state))
    with pytest.raises(IntegrityError, match="checksum"):
        manager.load_checkpoint(checkpoint_id)


def test_save_and_load_report_their_phases(manager):
    df = pd.DataFrame({"a": range(250)})
    saved: dict[str, float] = {}
    checkpoint_id = manager.save_checkpoint("p", "s", df, timings=saved)
    assert set(saved) == {
        "convert", "encode", "write", "hash", "fsync", "rename", "manifest", "registry"
    }  # fmt: skip
    assert all(isinstance(ms, float) and ms >= 0 for ms in saved.values())
    loaded: dict[str, float] = {}
    manager.load_checkpoint(checkpoint_id, timings=loaded)
    assert set(loaded) == {"read", "verify", "decode"}
