"""Compaction under SIGKILL and alongside loads, deletes and retention, in real processes.

SIGKILL: a child compacts a store of checkpoints in a loop (every pass rewrites every one with
the next codec) and is killed at 30 seeded random instants (10-300 ms into its loop). After each
kill, a fresh manager finds every checkpoint: it verifies in full (SHA-256) and loads to exactly
the frame that was saved. Then compaction is run again and completes the job, and a cleanup
leaves nothing but each checkpoint's manifest and the one data object it names.

Concurrency: a compacting child, a loading child and a child saving and expiring checkpoints of
another pipeline share a store for a few seconds. No load fails or returns other data, no
deleted checkpoint comes back, and a cleanup afterwards leaves no leftover.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pandas as pd

from checkpointing import CheckpointManager
from checkpointing.store._layout import COMPACTED_DATA, STORE_FILES
from tests.reliability import _compact_workers as workers
from tests.reliability._workers import read_done
from tests.reliability.test_sigkill import kill_at_random

KILL_POINTS = 30
SECONDS = 4.0


def leftovers(directory: Path, manager: CheckpointManager) -> Counter[str]:
    """What is in the store besides each manifest and the data object it names, by kind."""
    named = {e["checkpoint_id"] + ".json" for e in manager.list_checkpoints()}
    named |= {
        manager.get_state(e["checkpoint_id"])["data_file"] for e in manager.list_checkpoints()
    }
    found: Counter[str] = Counter()
    for path in directory.iterdir():
        if path.name in named or path.name in STORE_FILES:
            continue
        if path.name.startswith(".tmp-"):
            found["staged file"] += 1
        elif COMPACTED_DATA.fullmatch(path.name):
            found["compacted data object no manifest names"] += 1
        else:
            found["data object as saved, replaced"] += 1
    return found


def check_store(manager: CheckpointManager, saved: set[str]) -> Counter[str]:
    """Every checkpoint verifies and loads exactly the frame saved; return the codecs found."""
    codecs: Counter[str] = Counter()
    assert {e["checkpoint_id"] for e in manager.list_checkpoints()} == saved
    for cid in saved:
        state = manager.verify_checkpoint(cid)
        loaded = manager.load_checkpoint(cid)["data"]
        meta = state["metadata"]
        expected = workers.seeded_frame(meta["seed"], rows=meta["rows"])
        pd.testing.assert_frame_equal(loaded, expected, check_exact=True)
        codecs[f"{state['compression']}:{state.get('compression_level')}"] += 1
    return codecs


def test_sigkill_during_compaction_leaves_every_checkpoint_verifiable(tmp_path, procs, capsys):
    directory = tmp_path / "ckpt"
    done = tmp_path / "done"
    saved = set(workers.populate(str(directory), "cold", range(8), rows=4000))
    rng = random.Random("sigkill-compact")
    left: Counter[str] = Counter()
    codecs: Counter[str] = Counter()
    for point in range(KILL_POINTS):
        kill_at_random(
            procs, rng, [(workers.compact_loop, (str(directory), str(done), f"p{point}"))]
        )
        manager = CheckpointManager(directory)
        codecs += check_store(manager, saved)
        left += leftovers(directory, manager)
        # A rerun completes the job; the cleanup removes what the kill left behind.
        result = manager.compact(older_than=0, codec="zstd", level=5)
        assert not result.failed
        assert set(result.rewritten) | set(result.skipped) == set(saved)
        manager.cleanup_old_checkpoints(retention_days=3650, grace_seconds=0, sweep=True)
        assert not leftovers(directory, manager)
        assert check_store(manager, saved) == {"zstd:5": len(saved)}
    passes = [line for line in read_done(done) if line[0] == "compacted"]
    assert passes, "no child finished a compaction pass"
    assert sum(left.values()) > 0, "no kill landed inside a compaction"
    with capsys.disabled():
        print(
            f"\n[sigkill compact] kill points={KILL_POINTS} checkpoints={len(saved)} "
            f"finished passes={len(passes)} codecs found after kills={dict(codecs)} "
            f"leftovers found after kills={dict(left)} lost=0"
        )


def test_compaction_alongside_loads_deletes_and_retention(tmp_path, procs, capsys):
    directory = tmp_path / "ckpt"
    done = tmp_path / "done"
    saved = set(workers.populate(str(directory), "cold", range(6), rows=20_000))
    compactor = procs.Event()
    children = [
        procs.Process(
            target=workers.load_loop, args=(str(directory), str(done), list(saved), SECONDS)
        ),
        procs.Process(target=workers.expire_loop, args=(str(directory), str(done), SECONDS)),
        procs.Process(
            target=workers.compact_loop, args=(str(directory), str(done), "c", compactor)
        ),
    ]
    for child in children:
        child.start()
    for child in children[:2]:
        child.join(120)
        assert child.exitcode == 0
    children[2].kill()
    children[2].join()

    lines = read_done(done)
    errors = [line for line in lines if line[0] == "error"]
    assert not errors, errors[:5]
    loads = sum(int(line[1]) for line in lines if line[0] == "loads")
    passes = sum(1 for line in lines if line[0] == "compacted")
    expired = {line[1] for line in lines if line[0] == "deleted"}
    assert loads > 0 and passes > 0 and expired
    manager = CheckpointManager(directory)
    assert not expired & {e["checkpoint_id"] for e in manager.list_checkpoints()}
    manager.cleanup_old_checkpoints(retention_days=3650, grace_seconds=0, sweep=True)
    assert not expired & {p.name.split(".")[0] for p in directory.iterdir()}, "resurrected"
    assert not leftovers(directory, manager)
    check_store(manager, saved | {e["checkpoint_id"] for e in manager.list_checkpoints("expire")})
    with capsys.disabled():
        print(
            f"\n[compact concurrency] {SECONDS:g} s: verified loads={loads} "
            f"compaction passes={passes} checkpoints expired meanwhile={len(expired)} errors=0"
        )
