"""Tampered data files, manifests and registries: detected, reported, never returned as data."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from checkpointing import CheckpointManager, IntegrityError
from checkpointing.cli._main import main as checkpoint_cli
from checkpointing.store._layout import MARKER
from checkpointing.store._shards import INDEX, shard_name

ROOT = Path(__file__).resolve().parents[2]


def frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.random(500), "b": rng.integers(0, 10**6, 500)})


@pytest.fixture
def store(tmp_path):
    """A directory with three checkpoints of frames of the same shape (the same file size)."""
    manager = CheckpointManager(tmp_path / "ckpt")
    ids = [manager.save_checkpoint("etl", f"s{i}", frame(i)) for i in range(3)]
    return manager, ids


def verify_report(manager: CheckpointManager, capsys) -> tuple[int, dict[str, bool]]:
    capsys.readouterr()
    code = checkpoint_cli(["--dir", str(manager.checkpoint_dir), "verify", "--json"])
    report = json.loads(capsys.readouterr().out)
    return code, {r["checkpoint_id"]: r["ok"] for r in report["results"]}


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0x01
    path.write_bytes(bytes(data))


TAMPERINGS = {
    "flip first byte": lambda p, other: flip(p, 0),
    "flip a middle byte": lambda p, other: flip(p, p.stat().st_size // 2),
    "flip a footer byte": lambda p, other: flip(p, -9),
    "flip the last byte": lambda p, other: flip(p, -1),
    "truncate to half": lambda p, other: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "truncate one byte": lambda p, other: p.write_bytes(p.read_bytes()[:-1]),
    "empty": lambda p, other: p.write_bytes(b""),
    "append a byte": lambda p, other: p.write_bytes(p.read_bytes() + b"\0"),
    "swap in another checkpoint's file": lambda p, other: shutil.copyfile(other, p),
    "delete": lambda p, other: p.unlink(),
}


@pytest.mark.parametrize("how", sorted(TAMPERINGS))
def test_a_tampered_data_file_raises_integrity_error_and_is_reported(store, how, capsys):
    manager, ids = store
    victim, other = ids[1], ids[2]
    directory = manager.checkpoint_dir
    TAMPERINGS[how](directory / f"{victim}.parquet", directory / f"{other}.parquet")
    with pytest.raises(IntegrityError) as info:
        manager.load_checkpoint(victim)
    assert info.value.checkpoint_id == victim
    with pytest.raises(IntegrityError):
        manager.verify_checkpoint(victim)
    code, ok = verify_report(manager, capsys)
    assert code == 1
    assert ok == {ids[0]: True, victim: False, other: True}
    for i in (0, 2):  # the others still load, exactly
        pd.testing.assert_frame_equal(manager.load_checkpoint(ids[i])["data"], frame(i))


def test_the_command_line_reports_a_tampered_checkpoint(store):
    manager, ids = store
    flip(manager.checkpoint_dir / f"{ids[0]}.parquet", 100)
    result = subprocess.run(
        [sys.executable, "-m", "checkpointing", "--dir", str(manager.checkpoint_dir), "verify"],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert f"BAD  {ids[0]}" in result.stdout
    assert "SHA-256 mismatch" in result.stdout
    assert "2 ok, 1 bad" in result.stdout


MANIFEST_DAMAGE = {
    "garbage": lambda text: "{not json",
    "truncated": lambda text: text[: len(text) // 2],
    "empty": lambda text: "",
    "a list": lambda text: "[1, 2]",
    "another id": lambda text: text.replace('"checkpoint_id": "', '"checkpoint_id": "x', 1),
    "another data file": lambda text: text.replace('"data_file": "', '"data_file": "x', 1),
    "another hash": lambda text: text.replace('"data_hash": "', '"data_hash": "0', 1),
    "NaN instead of a size": lambda text: _field(text, "data_size", "NaN"),
    "a number as timestamp": lambda text: _field(text, "timestamp", "5"),
    "a number as stage": lambda text: _field(text, "stage", "5"),
    "a list as size": lambda text: _field(text, "data_size", "[1]"),
    "a number as checksum": lambda text: _field(text, "data_xxh3", "5"),
}


def _field(text: str, key: str, value: str) -> str:
    """Put ``value`` (JSON text) in front of the manifest's ``key`` (a duplicate key wins)."""
    return text.replace(f'"{key}": ', f'"{key}": {value}, "{key}_was": ', 1)


@pytest.mark.parametrize("how", sorted(MANIFEST_DAMAGE))
def test_a_corrupt_manifest_makes_only_that_checkpoint_invalid(store, how, capsys, caplog):
    manager, ids = store
    victim = ids[0]
    path = manager.checkpoint_dir / f"{victim}.json"
    path.write_text(MANIFEST_DAMAGE[how](path.read_text()))
    with pytest.raises(IntegrityError):
        manager.verify_checkpoint(victim)
    code, ok = verify_report(manager, capsys)
    assert code == 1
    assert ok == {victim: False, ids[1]: True, ids[2]: True}
    for i in (1, 2):
        pd.testing.assert_frame_equal(manager.load_checkpoint(ids[i])["data"], frame(i))
    # A rebuild keeps every readable checkpoint (an unreadable manifest is skipped, with a
    # warning) and the others keep working.
    caplog.set_level(logging.WARNING, logger="checkpointing")
    rebuilt = manager.rebuild_registry()
    listed = {e["checkpoint_id"] for e in manager.list_checkpoints()}
    assert {ids[1], ids[2]} <= listed
    assert rebuilt == len(listed)
    for cid in listed - {victim}:
        manager.verify_checkpoint(cid)


SHARD = shard_name("etl")  # the three checkpoints are all of pipeline "etl"
REGISTRY_DAMAGE = {
    "shard garbage": (SHARD, lambda b: b"\x00garbage"),
    "shard truncated": (SHARD, lambda b: b[: len(b) // 2]),
    "shard empty": (SHARD, lambda b: b""),
    "shard deleted": (SHARD, None),
    "shard of another format": (SHARD, lambda b: b.replace(b'"format_version":2', b'"x":9', 1)),
    "shard line damaged": (SHARD, lambda b: b.replace(b'"op":"add"', b'"op":"a\xffd"', 1)),
    "shard torn": (SHARD, lambda b: b[:-7]),
    "index garbage": (INDEX, lambda b: b"\x00garbage"),
    "index torn": (INDEX, lambda b: b[:-7]),
    "index deleted": (INDEX, None),
    "index lists nothing": (INDEX, lambda b: b.split(b"\n")[0] + b"\n"),
    "registry folder deleted": ("registry", None),
    "registry folder and marker deleted": (MARKER, None),
}
# Damage that leaves every shard readable is not a rebuild: the shards are read as they are.
NO_REBUILD = {"index lists nothing", "registry folder and marker deleted"}


@pytest.mark.parametrize("how", sorted(REGISTRY_DAMAGE))
def test_a_corrupt_registry_is_detected_and_rebuilt_without_loss(store, how, caplog):
    manager, ids = store
    directory = manager.checkpoint_dir
    name, damage = REGISTRY_DAMAGE[how]
    path = directory / name
    if damage is not None:
        path.write_bytes(damage(path.read_bytes()))
    elif path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
        if name == MARKER:
            shutil.rmtree(directory / "registry")
    caplog.set_level(logging.WARNING, logger="checkpointing")
    fresh = CheckpointManager(directory)
    assert fresh.get_latest_checkpoint("etl") == ids[-1]
    assert {e["checkpoint_id"] for e in fresh.list_checkpoints()} == set(ids)
    messages = [r.getMessage() for r in caplog.records]
    if how not in NO_REBUILD:
        assert any("rebuilt it from 3 manifest(s)" in m for m in messages), messages
    for i, cid in enumerate(ids):
        pd.testing.assert_frame_equal(fresh.load_checkpoint(cid)["data"], frame(i))
    # And saving keeps working on the rebuilt registry.
    new = fresh.save_checkpoint("etl", "after", frame(9))
    assert {e["checkpoint_id"] for e in fresh.list_checkpoints()} == {*ids, new}
