"""Fingerprint benchmarks: hashing a frame's inputs against saving it.

Run: ``.venv/bin/python -m bench.bench_fingerprint`` (``--quick`` for 100,000 rows).

* A 1M-row OHLCV frame (6 columns and a DatetimeIndex, 56 MB) that did not come from a
  checkpoint: the whole stage fingerprint (schema, content hash of every column and of the
  index, the document's SHA-256) against ``save_checkpoint`` of the same frame, interleaved.
  Target ≤ 0.25x.
* The same frame restored from a checkpoint (through a cache hit): its fingerprint, which uses
  the checkpoint's stored SHA-256 after checking that the frame was not changed since.
  Target ≤ 1 ms.
* For reference: the frame with a 1M-row string column added, and the code fingerprint of the
  example job's extraction (first call, with source parsing, and later calls).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from bench._common import Timing, measure_pair, report
from bench.bench_store import ohlcv
from checkpointing import CheckpointManager, Pipeline
from checkpointing.pipeline._code_identity import code_tree
from checkpointing.pipeline._fingerprint import FingerprintSpec, fingerprint


def _fingerprint(df: pd.DataFrame) -> str:
    return fingerprint(FingerprintSpec(inputs={"prices": df}), stage="s", key=None).sha256


def _spread(timing: Timing) -> str:
    samples = timing.samples
    return (
        f"median {statistics.median(samples) * 1e3:.2f} ms, "
        f"min {min(samples) * 1e3:.2f} ms, max {max(samples) * 1e3:.2f} ms, n={len(samples)}"
    )


def _times(fn: Callable[[], object], repeat: int) -> Timing:
    fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return Timing("fingerprint", tuple(samples))


def bench_fresh(work: Path, df: pd.DataFrame, repeat: int, label: str) -> None:
    manager = CheckpointManager(work / "store")
    saved: list[str] = []

    def tidy() -> None:
        for cid in saved:
            manager.delete_checkpoint(cid)
        saved.clear()

    a, b = measure_pair(
        lambda: _fingerprint(df),
        lambda: saved.append(manager.save_checkpoint("bench", "ohlcv", df)),
        repeat=repeat,
        setup=tidy,
        labels=("fingerprint", "save_checkpoint"),
    )
    report(f"fingerprint of a {label} not from a checkpoint", a, b, target=0.25)


def bench_restored(work: Path, df: pd.DataFrame, repeat: int) -> None:
    dirs = {"checkpoint_dir": work / "cached", "log_dir": work / "logs"}
    for _ in range(2):  # the second run restores the frame from the first run's checkpoint
        p = Pipeline("bench", **dirs, logging=False)  # type: ignore[arg-type]
        with p, p.stage("extract", inputs={"n": 1}, cache=True) as s:
            if not s.restored:
                s.checkpoint(df)
    assert s.restored
    restored = s.data
    leaf = fingerprint(FingerprintSpec(inputs={"prices": restored}), stage="s", key=None)
    assert leaf.document["inputs"]["prices"]["content"].startswith("checkpoint:")
    timing = _times(lambda: _fingerprint(restored), repeat)
    verdict = "OK" if timing.median <= 1e-3 else "MISSED"
    print(
        f"fingerprint of a {len(df):,}-row frame from a checkpoint: {_spread(timing)}"
        f"  target <= 1 ms  {verdict}"
    )


def bench_code(repeat: int) -> None:
    import sys

    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    from scripts.etl_stages import extract

    start = time.perf_counter()
    code_tree(extract)
    first = time.perf_counter() - start
    timing = _times(lambda: code_tree(extract), repeat)
    print(
        f"code fingerprint of the example job's extract (helpers included): first call "
        f"{first * 1e3:.1f} ms, then {_spread(timing)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, few repetitions")
    args = parser.parse_args()
    rows, repeat = (100_000, 5) if args.quick else (1_000_000, 15)
    work = Path(tempfile.mkdtemp(prefix="bench-fingerprint-"))
    try:
        df = ohlcv(rows)
        bench_code(repeat * 4)
        bench_fresh(work, df, repeat, f"{rows:,}-row OHLCV frame")
        bench_restored(work, df, repeat * 20)
        with_text = df.assign(
            ticker=pd.Series(
                ["AAPL", "MSFT", "NVDA", "IBM"] * (rows // 4), index=df.index, dtype="str"
            )
        )
        bench_fresh(work, with_text, repeat, f"{rows:,}-row frame with a string column")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
