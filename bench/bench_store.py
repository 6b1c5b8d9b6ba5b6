"""Checkpoint store benchmarks: save, load with verification, registry scaling, small frames.

Run: ``.venv/bin/python -m bench.bench_store`` (``--quick`` for small sizes).

Peers, measured in the same run and interleaved with ours:

* save: ``pq.write_table(pa.Table.from_pandas(df), f)`` into a new file, then ``os.fsync`` —
  both sides write a fresh file each time and both fsync it.
* load: ``pd.read_parquet`` of the same file (ours verifies size and a whole-file CRC-32).
* registry: a save with 2,000 checkpoints registered against a save with 10 registered.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from bench._common import measure_pair, report
from checkpointing import CheckpointManager


def ohlcv(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(42)
    close = 100 + rng.standard_normal(rows).cumsum()
    return pd.DataFrame(
        {
            "open": close + rng.standard_normal(rows) * 0.1,
            "high": close + rng.random(rows),
            "low": close - rng.random(rows),
            "close": close,
            "volume": rng.integers(1_000, 1_000_000, rows),
            "vwap": close + rng.standard_normal(rows) * 0.05,
        },
        index=pd.date_range("2020-01-01", periods=rows, freq="s", tz="UTC", name="timestamp"),
    )


def bench_save_and_load(work: Path, rows: int, repeat: int) -> None:
    df = ohlcv(rows)
    manager = CheckpointManager(work / "store")
    peer_dir = work / "peer"
    peer_dir.mkdir()
    counter = iter(range(10**9))
    saved: list[str] = []

    def ours() -> None:
        saved.append(manager.save_checkpoint("bench", "ohlcv", df))

    def peer() -> None:
        path = peer_dir / f"{next(counter)}.parquet"
        with path.open("wb") as f:
            pq.write_table(pa.Table.from_pandas(df), f, compression="snappy")
            f.flush()
            os.fsync(f.fileno())

    def tidy() -> None:  # delete between runs so both sides always write a new file
        for cid in saved:
            manager.delete_checkpoint(cid)
        saved.clear()
        for p in peer_dir.iterdir():
            p.unlink()

    a, b = measure_pair(
        ours, peer, repeat=repeat, setup=tidy, labels=("save_checkpoint", "write_table+fsync")
    )
    report(f"save {rows:,}-row OHLCV (snappy, fsync'd)", a, b, target=1.15)

    cid = manager.save_checkpoint("bench", "ohlcv", df)
    path = manager.checkpoint_dir / f"{cid}.parquet"
    a, b = measure_pair(
        lambda: manager.load_checkpoint(cid),
        lambda: pd.read_parquet(path),
        repeat=repeat * 2,
        labels=("load_checkpoint", "pd.read_parquet"),
    )
    report(f"load {rows:,}-row OHLCV with verification", a, b, target=1.25)
    a, b = measure_pair(
        lambda: manager.verify_checkpoint(cid),
        lambda: pd.read_parquet(path),
        repeat=repeat,
        labels=("verify_checkpoint", "pd.read_parquet"),
    )
    report(f"verify {rows:,}-row OHLCV (full SHA-256, for reference)", a, b)


def bench_registry(work: Path, registered: int, repeat: int) -> None:
    df = ohlcv(250)
    small = CheckpointManager(work / "small")
    large = CheckpointManager(work / "large")
    for manager, count in ((small, 10), (large, registered)):
        for _ in range(count):
            manager.save_checkpoint("bench", "s", df)
    a, b = measure_pair(
        lambda: large.save_checkpoint("bench", "s", df),
        lambda: small.save_checkpoint("bench", "s", df),
        repeat=repeat,
        labels=(f"save with {registered:,} registered", "save with 10 registered"),
    )
    report("registry scaling (250-row frame)", a, b, target=1.5)


def bench_small(work: Path, repeat: int) -> None:
    df = ohlcv(250)
    manager = CheckpointManager(work / "tiny")
    ids: list[str] = []
    path = work / "tiny.parquet"

    def peer_save() -> None:
        with path.open("wb") as f:
            pq.write_table(pa.Table.from_pandas(df), f)
            f.flush()
            os.fsync(f.fileno())

    a, b = measure_pair(
        lambda: ids.append(manager.save_checkpoint("bench", "s", df)),
        peer_save,
        repeat=repeat,
        labels=("save_checkpoint", "write_table+fsync"),
    )
    report("save 250-row frame (seed document: 12 ms)", a, b)
    a, b = measure_pair(
        lambda: manager.load_checkpoint(ids[-1]),
        lambda: pd.read_parquet(path),
        repeat=repeat,
        labels=("load_checkpoint", "pd.read_parquet"),
    )
    report("load 250-row frame (seed document: 8 ms)", a, b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, few repetitions")
    args = parser.parse_args()
    rows, repeat, registered = (100_000, 5, 300) if args.quick else (1_000_000, 15, 2_000)
    work = Path(tempfile.mkdtemp(prefix="bench-store-"))
    try:
        bench_save_and_load(work, rows, repeat)
        bench_registry(work, registered, repeat * 4)
        bench_small(work, repeat * 4)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
