"""Child-process bodies of the compaction reliability tests (see ``_workers`` for the rules).

The frames are rebuilt from their seed in the parent, so a check compares every load with the
exact frame that was saved.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import numpy as np
import pandas as pd

from checkpointing import CheckpointManager, CheckpointNotFoundError
from tests.reliability._workers import report

# The codecs a compacting child cycles through: every step rewrites every checkpoint.
CYCLE = [("zstd", 9), ("gzip", None), ("snappy", None), ("zstd", 3), ("brotli", 5)]


def seeded_frame(seed: int, rows: int = 20_000) -> pd.DataFrame:
    """An OHLCV-like frame with a categorical, strings and a time index, from ``seed``."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "close": rng.random(rows).round(4),
            "volume": rng.integers(0, 10**6, rows),
            "ticker": pd.Categorical(rng.choice(["AAPL", "MSFT", "GOOG"], rows)),
            "note": np.array(["a", "b", None], dtype=object)[rng.integers(0, 3, rows)],
        },
        index=pd.date_range("2024-01-01", periods=rows, freq="min", tz="UTC", name="ts"),
    )


def populate(directory: str, pipeline_id: str, seeds: range, rows: int) -> dict[str, int]:
    """Save one checkpoint of ``rows`` rows per seed; return ``{checkpoint_id: seed}``."""
    manager = CheckpointManager(directory)
    return {
        manager.save_checkpoint(
            pipeline_id, f"s{seed}", seeded_frame(seed, rows), {"seed": seed, "rows": rows}
        ): seed
        for seed in seeds
    }


def compact_loop(directory: str, done: str, worker: str, ready: Any) -> None:
    """Compact every checkpoint with the next codec of :data:`CYCLE`, forever."""
    manager = CheckpointManager(directory, lock_timeout=60)
    ready.set()
    for codec, level in itertools.cycle(CYCLE):
        result = manager.compact(older_than=0, codec=codec, level=level)
        report(done, "compacted", worker, len(result.rewritten), len(result.failed))


def load_loop(directory: str, done: str, ids: list[str], seconds: float) -> None:
    """Load and compare the given checkpoints for ``seconds``; report each failure."""
    manager = CheckpointManager(directory, lock_timeout=60)
    frames = {}
    for cid in ids:
        meta = manager.get_state(cid)["metadata"]
        frames[cid] = seeded_frame(int(meta["seed"]), int(meta["rows"]))
    deadline = time.monotonic() + seconds
    loads = 0
    while time.monotonic() < deadline:
        for cid, expected in frames.items():
            try:
                loaded = manager.load_checkpoint(cid)["data"]
                pd.testing.assert_frame_equal(loaded, expected, check_exact=True)
            except Exception as exc:  # every failure is reported, none is expected
                report(done, "error", cid, f"{type(exc).__name__}: {exc}".replace("\n", " "))
            loads += 1
    report(done, "loads", loads)


def expire_loop(directory: str, done: str, seconds: float) -> None:
    """Save checkpoints of pipeline ``expire`` and expire them ~50 ms later, for ``seconds``."""
    manager = CheckpointManager(directory, lock_timeout=60)
    deadline = time.monotonic() + seconds
    i = 1000
    while time.monotonic() < deadline:
        meta = {"seed": i, "rows": 2000}
        cid = manager.save_checkpoint("expire", "s", seeded_frame(i, rows=2000), meta)
        report(done, "saved", cid)
        before = {e["checkpoint_id"] for e in manager.list_checkpoints("expire")}
        manager.cleanup_old_checkpoints(
            retention_days=0.05 / 86400, pipeline_id="expire", sweep=False
        )
        after = {e["checkpoint_id"] for e in manager.list_checkpoints("expire")}
        for gone in before - after:
            report(done, "deleted", gone)
        for gone in list(before - after)[:1]:  # deleted twice: the second is a no-op
            try:
                manager.load_checkpoint(gone)
            except CheckpointNotFoundError:
                continue
            report(done, "error", gone, "loads after it was deleted")
        i += 1
