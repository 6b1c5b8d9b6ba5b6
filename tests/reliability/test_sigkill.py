"""SIGKILL at >= 20 random instants of processes saving, compacting, cleaning up and logging.

Each kill point starts a real child process that loops on one operation, waits until the child
is inside its loop, sleeps a delay drawn from a seeded RNG (10-300 ms, so kills land anywhere in
the operation) and sends SIGKILL. After every kill the directory is checked as a fresh process
would find it: the registry loads, every listed checkpoint verifies (full SHA-256), no
half-written checkpoint is listed or loadable, every save the child reported is still there, and
a cleanup leaves only complete checkpoints and registry files.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from checkpointing import CheckpointManager
from checkpointing.store._layout import STORE_FILES
from tests.reliability import _workers
from tests.reliability.conftest import json_lines_and_fragments

KILL_POINTS = 24
REGISTRY_FILES = STORE_FILES  # the marker, the lock file and the registry/ folder


def kill_at_random(
    procs: Any, rng: random.Random, children: list[tuple[Any, tuple[Any, ...]]]
) -> None:
    """Start each ``target(*args, ready)``, wait until all are in their loop, SIGKILL them."""
    started = []
    for target, args in children:
        ready = procs.Event()
        process = procs.Process(target=target, args=(*args, ready))
        process.start()
        started.append((process, ready))
    for _, ready in started:
        assert ready.wait(60), "child never became ready"
    time.sleep(rng.uniform(0.01, 0.3))
    for process, _ in started:
        os.kill(process.pid, signal.SIGKILL)
    for process, _ in started:
        process.join()
        # Any other exit code means the child failed on its own before the kill.
        assert process.exitcode == -signal.SIGKILL


def manifests_on_disk(directory: Path) -> set[str]:
    return {
        p.name.removesuffix(".json")
        for p in directory.iterdir()
        if p.name.endswith(".json") and not p.name.startswith(".")
    }


def check_after_kill(directory: Path, done: Path, verified: set[str], *, strict_loss: bool):
    """The post-crash contract; returns (listed ids, leftovers cleaned)."""
    manager = CheckpointManager(directory, lock_timeout=10)
    listed = [e["checkpoint_id"] for e in manager.list_checkpoints()]
    assert len(listed) == len(set(listed)), "a checkpoint is listed twice"
    manifests = manifests_on_disk(directory)
    # Listed => complete: the registry never lists what has no manifest.
    assert set(listed) <= manifests
    # Every manifest on disk (visible to get_state/load) is a complete, verifiable checkpoint.
    for cid in sorted(manifests - verified):
        manager.verify_checkpoint(cid)  # full SHA-256, checksum, size and decoding
        assert len(manager.load_checkpoint(cid)["data"]) == 50
        verified.add(cid)
    if strict_loss:
        lines = _workers.read_done(done)
        saved = {f[1] for f in lines if f[0] == "saved"}
        deleted = {f[1] for f in lines if f[0] == "deleted"}
        lost = saved - deleted - set(listed)
        assert not lost, f"{len(lost)} reported saves are not listed"
    before = {p.name for p in directory.iterdir()}
    manager.cleanup_old_checkpoints(retention_days=3650, grace_seconds=0)
    after = {p.name for p in directory.iterdir()}
    complete = manifests_on_disk(directory)
    expected = {f"{c}.json" for c in complete} | {f"{c}.parquet" for c in complete}
    assert after - REGISTRY_FILES == expected, f"leftovers after cleanup: {after - expected}"
    assert {e["checkpoint_id"] for e in manager.list_checkpoints()} == complete
    verified &= complete
    return listed, len(before - after)


SCENARIOS = {
    "save": (_workers.save_loop, True),
    "compact": (_workers.compact_loop, True),
    "cleanup": (_workers.cleanup_loop, False),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_sigkill_leaves_a_loadable_registry_and_only_verifiable_checkpoints(
    tmp_path, procs, scenario, caplog, capsys
):
    target, strict_loss = SCENARIOS[scenario]
    rng = random.Random(f"sigkill-{scenario}")
    directory = tmp_path / "ckpt"
    done = tmp_path / "done"
    verified: set[str] = set()
    cleaned = 0
    caplog.set_level(logging.WARNING, logger="checkpointing")
    for point in range(KILL_POINTS):
        kill_at_random(procs, rng, [(target, (str(directory), str(done), f"p{point}"))])
        _, removed = check_after_kill(directory, done, verified, strict_loss=strict_loss)
        cleaned += removed
    saves = sum(1 for f in _workers.read_done(done) if f[0] == "saved")
    assert saves >= KILL_POINTS  # every child got into its loop and finished some saves
    # A kill mid-append tears a journal line; the next reader rebuilds from the manifests.
    rebuilds = sum("rebuilt it from" in r.getMessage() for r in caplog.records)
    with capsys.disabled():
        print(
            f"\n[sigkill {scenario}] kill points={KILL_POINTS} reported saves={saves} "
            f"verified checkpoints={len(verified)} leftovers removed by cleanup={cleaned} "
            f"registry rebuilds={rebuilds} lost=0"
        )


def test_sigkill_while_logging_leaves_only_whole_strict_json_lines(tmp_path, procs, capsys):
    rng = random.Random("sigkill-logging")
    total = size = torn = 0
    files: list[Path] = []
    for point in range(KILL_POINTS):
        # Four restarts share a directory (runs resume on the files a killed run left).
        log_file = tmp_path / f"logs{point // 4}" / "pipeline.log"
        workers = [f"p{point}w{k}" for k in range(2)]
        kill_at_random(
            procs, rng, [(_workers.log_loop, (str(log_file), 64 * 1024, w)) for w in workers]
        )
        seqs: dict[str, list[int]] = {w: [] for w in workers}
        current = sorted(log_file.parent.glob("pipeline.log*"))
        if point % 4 == 3:
            files += current
            size += sum(p.stat().st_size for p in current)
        point_fragments = 0
        for path in current:
            records, fragments = json_lines_and_fragments(path)
            point_fragments += sum(1 for f in fragments if f"p{point}w".encode() in f)
            torn += len(fragments) if point % 4 == 3 else 0
            for record in records:
                if record["worker"] in seqs:
                    seqs[record["worker"]].append(record["seq"])
                    assert record["v"]["nan"] is None or isinstance(record["v"]["nan"], str)
        # At most the last record of each killed writer can be cut short by the kernel.
        assert point_fragments <= len(workers)
        for worker, got in seqs.items():
            # Everything else is whole and gapless: records 0..n-1, each exactly once.
            assert sorted(got) == list(range(len(got))), f"{worker}: lost or duplicated lines"
            total += len(got)
    assert total > KILL_POINTS
    with capsys.disabled():
        print(
            f"\n[sigkill logging] kill points={KILL_POINTS} processes={2 * KILL_POINTS} "
            f"records={total} files={len(files)} bytes={size} "
            f"cut short by the kill={torn} lost=0"
        )
