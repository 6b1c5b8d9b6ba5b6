"""CheckpointManager.compact: exact round trips, the manifest's provenance, selection,
validation, damaged data, and how deletes, retention and the leftover sweep see the result."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import xxhash

from checkpointing import CheckpointManager, CompactionResult, IntegrityError
from checkpointing.storage._local import LocalStorage
from checkpointing.store._layout import STORE_FILES
from tests.checkpointing._aging import age_checkpoint
from tests.checkpointing._frames import CASES, assert_exact


@pytest.fixture
def manager(tmp_path):
    return CheckpointManager(tmp_path / "ckpt")


def frame(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "price": rng.random(n).round(2),
            "volume": rng.integers(0, 1000, n),
            "ticker": rng.choice(["AAPL", "MSFT", "GOOG"], n),
        },
        index=pd.date_range("2024-01-01", periods=n, freq="min", tz="UTC"),
    )


def files(manager):
    return {p.name for p in manager.checkpoint_dir.iterdir()} - STORE_FILES


@pytest.mark.parametrize("case", [c for c in CASES if c.outcome == "exact"], ids=lambda c: c.name)
def test_every_exact_dtype_still_round_trips_after_compaction(manager, case):
    for data in case.frames():
        cid = manager.save_checkpoint("etl", "s", data)
        result = manager.compact(older_than=0, codec="zstd", level=9)
        assert result.rewritten == (cid,)
        assert_exact(manager.load_checkpoint(cid)["data"], data)
        manager.verify_checkpoint(cid)
        manager.delete_checkpoint(cid)


@pytest.mark.parametrize(("codec", "level"), [("zstd", 3), ("zstd", 9), ("gzip", None)])
def test_the_manifest_publishes_the_new_file_and_keeps_the_original_as_provenance(
    manager, codec, level
):
    data = frame()
    cid = manager.save_checkpoint("etl", "prices", data, {"source": "test"})
    before = manager.get_state(cid)
    result = manager.compact(older_than=0, codec=codec, level=level)
    state = manager.get_state(cid)
    raw = (manager.checkpoint_dir / state["data_file"]).read_bytes()
    assert state["data_file"] != before["data_file"]
    assert state["data_file"].startswith(cid + ".") and state["data_file"].endswith(".parquet")
    assert state["data_hash"] == hashlib.sha256(raw).hexdigest()
    assert state["data_xxh3"] == xxhash.xxh3_64_hexdigest(raw)
    assert state["data_size"] == len(raw)
    assert (state["compression"], state["compression_level"]) == (codec, level)
    assert state["compacted_from"] == {
        "data_file": f"{cid}.parquet",
        "data_hash": before["data_hash"],
        "data_size": before["data_size"],
        "compression": "snappy",
    }
    assert datetime.fromisoformat(state["compacted_at"]) <= datetime.now(UTC)
    for key in ("timestamp", "metadata", "rows", "columns", "pipeline_id", "stage"):
        assert state[key] == before[key]
    # The old data object is gone, the registry lists the new one.
    assert files(manager) == {f"{cid}.json", state["data_file"]}
    (entry,) = manager.list_checkpoints("etl")
    assert (entry["data_file"], entry["data_hash"], entry["data_size"]) == (
        state["data_file"],
        state["data_hash"],
        state["data_size"],
    )
    assert result == CompactionResult(
        rewritten=(cid,),
        bytes_before=before["data_size"],
        bytes_after=len(raw),
        codec=codec,
        level=level,
    )
    assert result.bytes_saved == before["data_size"] - len(raw)
    assert_exact(manager.load_checkpoint(cid)["data"], data)
    assert manager.verify_checkpoint(cid)["data_hash"] == state["data_hash"]
    # Any Parquet reader opens the new data object.
    plain = pd.read_parquet(manager.checkpoint_dir / state["data_file"])
    pd.testing.assert_frame_equal(plain, data, check_freq=False)  # freq is stagepoint's own


def test_only_checkpoints_older_than_the_threshold_are_rewritten(manager):
    old = manager.save_checkpoint("etl", "a", frame(seed=1))
    other = manager.save_checkpoint("other", "a", frame(seed=2))
    new = manager.save_checkpoint("etl", "b", frame(seed=3))
    age_checkpoint(manager, old, 3)
    age_checkpoint(manager, other, 3)
    dry = manager.compact(older_than=timedelta(days=2), dry_run=True)
    assert dry.rewritten == (old, other)
    assert dry.bytes_after is None and dry.bytes_saved == 0
    assert all(manager.get_state(c)["compression"] == "snappy" for c in (old, other, new))
    result = manager.compact(older_than=2, pipeline_id="etl")
    assert result.rewritten == (old,)
    assert manager.get_state(old)["compression"] == "zstd"
    assert manager.get_state(other)["compression"] == "snappy"
    assert manager.get_state(new)["compression"] == "snappy"


def test_a_checkpoint_already_at_the_codec_and_level_is_skipped(manager):
    cid = manager.save_checkpoint("etl", "a", frame())
    original = manager.get_state(cid)
    manager.compact(older_than=0, codec="zstd", level=3)
    first = manager.get_state(cid)
    again = manager.compact(older_than=0, codec="zstd", level=3)
    assert (again.rewritten, again.skipped) == ((), (cid,))
    assert manager.get_state(cid) == first
    # A stronger level rewrites it again; the provenance still names the data as saved.
    manager.compact(older_than=0, codec="zstd", level=9)
    state = manager.get_state(cid)
    assert state["compacted_from"]["data_hash"] == original["data_hash"]
    assert files(manager) == {f"{cid}.json", state["data_file"]}
    assert manager.compact(older_than=0, codec="snappy").rewritten == (cid,)


def test_a_store_saved_with_zstd_is_skipped_at_the_default_level(tmp_path):
    manager = CheckpointManager(tmp_path, compression="zstd")
    cid = manager.save_checkpoint("etl", "a", frame())
    assert manager.compact(older_than=0).skipped == (cid,)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"codec": "lzma"}, "unknown or unavailable Parquet compression 'lzma'"),
        ({"codec": "zstd", "level": 23}, "zstd compression level must be 1 to 22, not 23"),
        ({"codec": "zstd", "level": 0}, "zstd compression level must be 1 to 22, not 0"),
        ({"codec": "gzip", "level": 10}, "gzip compression level must be 1 to 9, not 10"),
        ({"codec": "brotli", "level": 12}, "brotli compression level must be 0 to 11"),
        ({"codec": "snappy", "level": 1}, "codec 'snappy' takes no compression level"),
        ({"codec": "zstd", "level": True}, "compression level must be an int"),
        ({"older_than": -1}, "older_than must not be negative"),
        ({"older_than": float("nan")}, "older_than must be a timedelta or a number of days"),
        ({"older_than": "2d"}, "older_than must be a timedelta or a number of days"),
        ({"older_than": 1e9}, "older_than reaches back before year 1"),
    ],
)
def test_bad_arguments_are_clear_errors_and_write_nothing(manager, kwargs, message):
    cid = manager.save_checkpoint("etl", "a", frame())
    before = files(manager)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        manager.compact(**({"older_than": 0} | kwargs))
    assert files(manager) == before
    assert manager.get_state(cid)["compression"] == "snappy"


def test_damaged_data_is_left_alone_and_reported(manager):
    good = manager.save_checkpoint("etl", "a", frame(seed=1))
    bad = manager.save_checkpoint("etl", "b", frame(seed=2))
    path = manager.checkpoint_dir / f"{bad}.parquet"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    result = manager.compact(older_than=0)
    assert result.rewritten == (good,)
    ((cid, error),) = result.failed
    assert cid == bad and "SHA-256 mismatch" in error
    assert manager.get_state(bad)["compression"] == "snappy"
    assert path.read_bytes() == bytes(raw)
    with pytest.raises(IntegrityError):
        manager.load_checkpoint(bad)


def test_delete_and_retention_remove_the_compacted_data_object(manager):
    a = manager.save_checkpoint("etl", "a", frame(seed=1))
    b = manager.save_checkpoint("etl", "b", frame(seed=2))
    manager.save_checkpoint("etl", "c", frame(seed=3))
    manager.compact(older_than=0)
    assert manager.delete_checkpoint(a)
    age_checkpoint(manager, b, 10)
    assert manager.cleanup_old_checkpoints(retention_days=7) == 1
    (kept,) = manager.list_checkpoints()
    assert files(manager) == {f"{kept['checkpoint_id']}.json", kept["data_file"]}


def test_the_leftover_sweep_keeps_compacted_checkpoints(manager):
    cid = manager.save_checkpoint("etl", "a", frame())
    manager.compact(older_than=0)
    manager.cleanup_old_checkpoints(retention_days=3650, grace_seconds=0, sweep=True)
    assert manager.list_checkpoints()[0]["checkpoint_id"] == cid
    manager.verify_checkpoint(cid)


def test_the_sweep_removes_what_a_killed_compaction_left_after_the_grace_period(manager):
    cid = manager.save_checkpoint("etl", "a", frame())
    original = manager.checkpoint_dir / f"{cid}.parquet"
    kept = manager.checkpoint_dir / "kept.parquet"
    shutil.copy(original, kept)
    manager.compact(older_than=0)
    state = manager.get_state(cid)
    # Killed after the commit, before removing the old object; and a second compaction killed
    # after writing its data object, before its manifest.
    os.replace(kept, original)
    orphan = manager.checkpoint_dir / f"{cid}.0123abcd.parquet"
    orphan.write_bytes(b"PAR1 not committed")
    manager.cleanup_old_checkpoints(retention_days=3650, grace_seconds=60, sweep=True)
    # Younger than the grace period: perhaps about to be committed, or still being read.
    assert orphan.exists() and original.exists()
    past = time.time() - 120
    os.utime(orphan, (past, past))
    os.utime(original, (past, past))
    manager.cleanup_old_checkpoints(retention_days=3650, grace_seconds=60, sweep=True)
    assert files(manager) == {f"{cid}.json", state["data_file"]}
    assert "kept.parquet" not in files(manager)
    manager.verify_checkpoint(cid)


@pytest.mark.parametrize("method", ["load_checkpoint", "verify_checkpoint"])
def test_a_reader_that_read_the_manifest_just_before_a_compaction_reads_it_again(
    manager, monkeypatch, method
):
    """The old data object is removed right after the reader read the old manifest: the reader
    finds it gone, reads the manifest again and loads the compacted data."""
    data = frame()
    cid = manager.save_checkpoint("etl", "a", data)
    other = CheckpointManager(manager.checkpoint_dir)
    original_map = LocalStorage.map
    compacted: list[object] = []

    def map_after_a_compaction(self, name):
        if not compacted:
            compacted.append(None)  # the compaction maps the data too
            compacted[0] = other.compact(older_than=0)
        return original_map(self, name)

    monkeypatch.setattr(LocalStorage, "map", map_after_a_compaction)
    result = getattr(manager, method)(cid)
    assert compacted[0].rewritten == (cid,)  # type: ignore[attr-defined]
    state = result["state"] if method == "load_checkpoint" else result
    assert state["compression"] == "zstd"
    if method == "load_checkpoint":
        assert_exact(result["data"], data)


@pytest.mark.parametrize("meanwhile", ["deleted", "compacted"])
def test_a_compaction_that_lost_a_race_commits_nothing_and_leaves_nothing(
    manager, monkeypatch, meanwhile
):
    """Another process deletes or compacts the checkpoint after this compaction read it and
    before it commits: the other's outcome stands, this one's files are discarded."""
    cid = manager.save_checkpoint("etl", "a", frame())
    other = CheckpointManager(manager.checkpoint_dir)
    original_read = LocalStorage.read_json_version
    raced: list[bool] = []

    def read_then_race(self, name):
        found = original_read(self, name)  # the version this compaction will replace
        if not raced:
            raced.append(True)
            if meanwhile == "deleted":
                assert other.delete_checkpoint(cid)
            else:
                assert other.compact(older_than=0, codec="gzip").rewritten == (cid,)
        return found

    monkeypatch.setattr(LocalStorage, "read_json_version", read_then_race)
    result = manager.compact(older_than=0, codec="zstd", level=9)
    assert result.rewritten == () and not result.failed
    if meanwhile == "deleted":
        assert files(manager) == set()
        assert manager.list_checkpoints() == []
    else:
        state = manager.get_state(cid)
        assert state["compression"] == "gzip"
        assert files(manager) == {f"{cid}.json", state["data_file"]}
        manager.verify_checkpoint(cid)
