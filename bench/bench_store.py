"""Checkpoint store benchmarks: save, verified load, peak memory, small saves, registry scaling.

Run: ``.venv/bin/python -m bench.bench_store`` (``--quick`` for small sizes).

Peers, measured in the same run and interleaved with ours (median of the samples, min-max
printed beside it):

* save: ``pq.write_table(pa.Table.from_pandas(df), path)`` with default options into a new
  file, no fsync (ours fsyncs data and manifest and registers the checkpoint); file sizes are
  printed beside the times, on an OHLCV frame and on a low-cardinality frame (reported: its
  target is a file no bigger).
* verified load: ``pd.read_parquet(path)`` of the same file (ours checks size and xxh3_64 of
  the whole file, decodes, and checks rows and columns against the manifest); on the OHLCV
  frame (its index has a fixed-step freq, generated on load), on the same frame with its
  freq dropped (reported) and with an object-dtype string column.
* peak memory of a verified load vs ``pd.read_parquet``, each in a fresh process (the peak
  RSS, ``VmHWM`` reset just before the call, minus the RSS at that moment).
* small save: the durable floor, i.e. the 250-row frame written with ``pq.write_table`` and a
  600-byte JSON document, each to a new file and fsync'd. Every sample starts from an empty
  store (the previous sample's checkpoint deleted), so each save is its pipeline's first and
  creates its registry shard; a second figure keeps one earlier checkpoint of the pipeline, as
  for every save of a run after its first. The median of each phase of our save is printed.
* registry: a save with 2,000 checkpoints registered against a save with 10 registered.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from bench._common import Timing, measure_pair, report
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


def no_freq(rows: int) -> pd.DataFrame:
    """The OHLCV frame with its index's freq dropped: the index column is decoded on load."""
    frame = ohlcv(rows)
    index = pd.DatetimeIndex(frame.index)
    naive = index.asi8.view(f"M8[{index.unit}]")  # built from values: no freq
    frame.index = pd.DatetimeIndex(naive, name="timestamp").tz_localize("UTC")
    return frame


def with_tickers(rows: int) -> pd.DataFrame:
    """The OHLCV frame with an object-dtype column of 100 ticker symbols."""
    frame = ohlcv(rows)
    symbols = np.array([f"T{i:03d}" for i in range(100)], dtype=object)
    frame["ticker"] = pd.Series(
        symbols[np.random.default_rng(7).integers(0, 100, rows)], index=frame.index, dtype=object
    )
    return frame


def with_ids(rows: int) -> pd.DataFrame:
    """The OHLCV frame with an object-dtype column of unique strings (no dictionary pays)."""
    frame = ohlcv(rows)
    ids = np.array([f"order-{i:09d}" for i in range(rows)], dtype=object)
    frame["order_id"] = pd.Series(ids, index=frame.index, dtype=object)
    return frame


def low_cardinality(rows: int) -> pd.DataFrame:
    """Trades: few tickers, venues and sides, prices on a cent grid, round lot sizes."""
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "ticker": pd.Series([f"T{i:02d}" for i in rng.integers(0, 50, rows)], dtype="str"),
            "venue": pd.Series(rng.choice(["XNAS", "XNYS", "ARCX"], rows), dtype="str"),
            "side": rng.integers(0, 2, rows).astype("int8"),
            "price": np.round(100 + rng.integers(0, 2_000, rows) * 0.01, 2),
            "size": rng.integers(1, 50, rows) * 100,
        }
    )


def show(title: str, ours: Timing, peer: Timing, *, target: float | None = None) -> None:
    report(title, ours, peer, target=target)
    for t in (ours, peer):
        print(f"    {t.label}: median {_ms(t.median)}, min-max {_ms(t.best)}-{_ms(max(t.samples))}")


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


def bench_save(work: Path, name: str, df: pd.DataFrame, repeat: int, target: float | None) -> None:
    manager = CheckpointManager(work / f"store-{name}")
    peer_dir = work / f"peer-{name}"
    peer_dir.mkdir()
    counter = iter(range(10**9))
    saved: list[str] = []

    def ours() -> None:
        saved.append(manager.save_checkpoint("bench", name, df))

    def peer() -> None:
        pq.write_table(pa.Table.from_pandas(df), peer_dir / f"{next(counter)}.parquet")

    def tidy() -> None:  # delete between runs so both sides always write a new file
        for cid in saved:
            manager.delete_checkpoint(cid)
        saved.clear()
        for p in peer_dir.iterdir():
            p.unlink()

    a, b = measure_pair(
        ours, peer, repeat=repeat, setup=tidy, labels=("save_checkpoint", "pq.write_table")
    )
    show(f"save {len(df):,}-row {name} frame", a, b, target=target)
    ours()
    peer()
    ours_size = manager.get_state(saved[-1])["data_size"]
    peer_size = next(peer_dir.iterdir()).stat().st_size
    verdict = "OK" if ours_size <= peer_size else "BIGGER"
    print(f"    file size: ours {ours_size:,} bytes, peer {peer_size:,} bytes  {verdict}")
    tidy()


def bench_load(work: Path, name: str, df: pd.DataFrame, repeat: int, target: float | None) -> None:
    manager = CheckpointManager(work / f"load-{name}")
    cid = manager.save_checkpoint("bench", name, df)
    path = manager.checkpoint_dir / f"{cid}.parquet"
    a, b = measure_pair(
        lambda: manager.load_checkpoint(cid),
        lambda: pd.read_parquet(path),
        repeat=repeat,
        labels=("load_checkpoint", "pd.read_parquet"),
    )
    show(f"verified load, {len(df):,}-row {name} frame", a, b, target=target)


_MEMORY_PROBE = """
import sys
import pandas as pd
from checkpointing import CheckpointManager
def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))
side, directory, checkpoint_id = sys.argv[1:]
manager = CheckpointManager(directory)
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak (VmHWM): it starts at the forking parent's size
before = status("VmRSS:")
if side == "ours":
    data = manager.load_checkpoint(checkpoint_id)["data"]
else:
    data = pd.read_parquet(manager.checkpoint_dir / f"{checkpoint_id}.parquet")
print(status("VmHWM:") - before)
"""


def bench_memory(work: Path, rows: int, repeat: int) -> None:
    manager = CheckpointManager(work / "memory")
    cid = manager.save_checkpoint("bench", "memory", ohlcv(rows))
    peaks: dict[str, list[int]] = {"ours": [], "peer": []}
    for i in range(repeat):
        for side in ("ours", "peer") if i % 2 == 0 else ("peer", "ours"):
            out = subprocess.run(
                [sys.executable, "-c", _MEMORY_PROBE, side, str(manager.checkpoint_dir), cid],
                capture_output=True,
                text=True,
                check=True,
            )
            peaks[side].append(int(out.stdout.strip()))
    ours, peer = (statistics.median(peaks[s]) / 2**20 for s in ("ours", "peer"))
    ratio = ours / peer
    print(
        f"peak memory of a verified {rows:,}-row load (fresh process, {repeat} each): "
        f"load_checkpoint {ours:.1f} MiB vs pd.read_parquet {peer:.1f} MiB  ratio {ratio:.2f}x"
        f"  target <= 1.00x  {'OK' if ratio <= 1.0 else 'MISSED'}"
    )
    for side in ("ours", "peer"):
        low, high = min(peaks[side]) / 2**20, max(peaks[side]) / 2**20
        print(f"    {side}: min-max {low:.1f}-{high:.1f} MiB")


def bench_small(work: Path, repeat: int) -> None:
    df = ohlcv(250)
    manager = CheckpointManager(work / "tiny")
    floor_dir = work / "floor"
    floor_dir.mkdir()
    counter = iter(range(10**9))
    manifest = json.dumps({"k": "x" * 560}).encode()  # about the size of a manifest
    ids: list[str] = []

    def floor() -> None:
        n = next(counter)
        with (floor_dir / f"{n}.parquet").open("wb") as f:
            pq.write_table(pa.Table.from_pandas(df), f)
            f.flush()
            os.fsync(f.fileno())
        with (floor_dir / f"{n}.json").open("wb") as f:
            f.write(manifest)
            f.flush()
            os.fsync(f.fileno())

    def tidy() -> None:
        for cid in ids:
            manager.delete_checkpoint(cid)
        ids.clear()
        for p in floor_dir.iterdir():
            p.unlink()

    phases: list[dict[str, float]] = []

    def save() -> None:
        phases.append({})
        ids.append(manager.save_checkpoint("bench", "s", df, timings=phases[-1]))

    def compare(title: str) -> None:
        phases.clear()
        a, b = measure_pair(
            save,
            floor,
            repeat=repeat,
            setup=tidy,
            labels=("save_checkpoint", "write+fsync of two files"),
        )
        show(title, a, b, target=1.3)
        _phases(phases)

    compare("save 250-row frame (durable floor)")
    # The same with an earlier checkpoint of the pipeline kept: its registry shard exists, as
    # for every save of a run after its first.
    resident = manager.save_checkpoint("bench", "s", df)
    compare("save 250-row frame, not the pipeline's first (durable floor)")
    manager.delete_checkpoint(resident)
    cid = manager.save_checkpoint("bench", "s", df)
    path = manager.checkpoint_dir / f"{cid}.parquet"
    a, b = measure_pair(
        lambda: manager.load_checkpoint(cid),
        lambda: pd.read_parquet(path),
        repeat=repeat,
        labels=("load_checkpoint", "pd.read_parquet"),
    )
    show("verified load, 250-row frame", a, b)


def _phases(phases: list[dict[str, float]]) -> None:
    medians = {k: statistics.median(p[k] for p in phases[1:]) for k in phases[-1]}
    print("    where a save's time goes (median ms): " + ", ".join(
        f"{k} {v:.3f}" for k, v in medians.items()
    ))  # fmt: skip


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
    show("registry scaling (250-row frame)", a, b, target=1.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, few repetitions")
    parser.add_argument(
        "--only", choices=["save", "load", "memory", "small", "registry"], help="one figure"
    )
    args = parser.parse_args()
    rows, repeat, registered = (100_000, 5, 300) if args.quick else (1_000_000, 15, 2_000)
    work = Path(tempfile.mkdtemp(prefix="bench-store-"))
    try:
        if args.only in (None, "save"):
            bench_save(work, "OHLCV", ohlcv(rows), repeat, target=1.0)
            bench_save(work, "low-cardinality", low_cardinality(rows), repeat, target=None)
        if args.only in (None, "load"):
            bench_load(work, "OHLCV", ohlcv(rows), repeat * 2, target=1.0)
            bench_load(work, "OHLCV, its index without freq", no_freq(rows), repeat * 2, None)
            bench_load(work, "OHLCV + object ticker column", with_tickers(rows), repeat * 2, 1.05)
            bench_load(work, "OHLCV + object column of unique ids", with_ids(rows), repeat, None)
        if args.only in (None, "memory"):
            bench_memory(work, rows, repeat)
        if args.only in (None, "small"):
            bench_small(work, repeat * 4)
        if args.only in (None, "registry"):
            bench_registry(work, registered, repeat * 4)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
