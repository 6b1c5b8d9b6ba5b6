"""Compaction benchmark: file size and verified load time before and after, and its cost.

Run: ``.venv/bin/python -m bench.bench_compact`` (``--quick`` for small sizes).

On the 1M-row OHLCV frame of ``bench_store`` (random prices: the hardest case for any codec),
the same frame with an object-dtype column of 100 tickers or of unique order ids, and the
low-cardinality trades frame (already dictionary-encoded), each saved with the default codec
(snappy), then compacted to each target codec:

* size: the data object before and after, and their ratio;
* compaction: ``CheckpointManager.compact`` of one checkpoint (full SHA-256 check of the old
  data, re-encoding, read-back check, durable commit, removal of the old object) against the
  bare re-encode with pyarrow (``pq.read_table`` + ``pq.write_table`` at that codec and level,
  no verification, no fsync), interleaved;
* load: the verified ``load_checkpoint`` of the compacted checkpoint against the same of the
  snappy original, interleaved in the same run.

Each line prints the ratio of the medians and each side's min-max spread.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from bench._common import measure_pair, report
from bench.bench_store import low_cardinality, ohlcv, with_ids, with_tickers
from checkpointing import CheckpointManager

TARGETS = [("zstd", 3), ("zstd", 9), ("gzip", None)]


def bench_frame(work: Path, name: str, df: pd.DataFrame, repeat: int) -> None:
    base = CheckpointManager(work / f"{name}-snappy")
    original = base.save_checkpoint("bench", name, df)
    for codec, level in TARGETS:
        bench_target(work, name, df, (base, original), codec, level, repeat)


def bench_target(
    work: Path,
    name: str,
    df: pd.DataFrame,
    snappy: tuple[CheckpointManager, str],
    codec: str,
    level: int | None,
    repeat: int,
) -> None:
    base, original = snappy
    before = base.get_state(original)["data_size"]
    source = base.checkpoint_dir / f"{original}.parquet"
    label = codec if level is None else f"{codec} {level}"
    store = CheckpointManager(work / f"{name}-{codec}-{level}")
    pending: list[str] = []

    def fresh() -> None:  # a new snappy checkpoint to compact, in the store being measured
        for cid in pending:
            store.delete_checkpoint(cid)
        pending[:] = [store.save_checkpoint("bench", name, df)]

    def ours() -> None:
        result = store.compact(older_than=0, codec=codec, level=level)
        assert len(result.rewritten) == 1

    def peer() -> None:
        table = pq.read_table(source)
        pq.write_table(table, work / "peer.parquet", compression=codec, compression_level=level)

    a, b = measure_pair(
        ours, peer, repeat=3 if repeat > 5 else 2, setup=fresh, labels=("compact", "re-encode")
    )
    report(f"compact {len(df):,}-row {name} snappy -> {label}", a, b)
    fresh()
    ours()
    compacted = pending[0]
    after = store.get_state(compacted)["data_size"]
    print(
        f"    size: snappy {before:,} bytes -> {label} {after:,} bytes "
        f"(x{after / before:.2f}, {1 - after / before:.0%} saved)"
    )
    a, b = measure_pair(
        lambda: store.load_checkpoint(compacted),
        lambda: base.load_checkpoint(original),
        repeat=repeat,
        labels=(f"load {label}", "load snappy"),
    )
    report(f"verified load {len(df):,}-row {name}, {label} vs snappy", a, b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, few repetitions")
    args = parser.parse_args()
    rows, repeat = (100_000, 5) if args.quick else (1_000_000, 15)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bench_frame(work, "OHLCV", ohlcv(rows), repeat)
        bench_frame(work, "OHLCV+ticker", with_tickers(rows), repeat)
        bench_frame(work, "OHLCV+order id", with_ids(rows), repeat)
        bench_frame(work, "trades", low_cardinality(rows), repeat)


if __name__ == "__main__":
    main()
