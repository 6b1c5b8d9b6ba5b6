"""The example ETL job and the checkpoint comparison, at the sizes users run them.

Run: ``.venv/bin/python -m bench.bench_etl [--repeat N]``

1. ``diff_frames`` of two 1M-row OHLCV frames (0.1% of the closes changed, two columns added)
   against pandas' ``DataFrame.compare`` of the shared columns. The peer only finds the changed
   cells; the diff also counts nulls, summarises every column and lists examples.
2. The four stages of ``scripts/run_etl_pipeline.py`` over 50 tickers x 10 years (130,400 rows),
   each in a ``with pipeline.stage(...)`` with a checkpoint, against the same stage functions
   called bare (no events, no checkpoints): the price of restartability for a real job.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from bench._common import measure_pair, report
from checkpointing import Pipeline, diff_frames
from scripts.etl_stages import extract, output_filename, preprocess, store, validate

TICKERS = [f"T{i:02d}" for i in range(50)]
START, END = "2014-01-01", "2023-12-31"


def _ohlcv(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, rows)))
    return pd.DataFrame(
        {
            "date": pd.date_range("2000-01-01", periods=rows, freq="min"),
            "ticker": pd.Series(rng.choice(["AAPL", "MSFT", "IBM"], rows), dtype="str"),
            "open": close * 0.999,
            "high": close * 1.01,
            "low": close * 0.99,
            "close": close,
            "volume": rng.integers(10**5, 10**7, rows),
        }
    )


def bench_diff(repeat: int) -> None:
    a = _ohlcv(1_000_000)
    b = a.copy()
    b.loc[::1000, "close"] = b.loc[::1000, "close"] * 1.01
    b["ma_5"] = b["close"].rolling(5).mean()
    b["return_1d"] = b["close"].pct_change()
    shared = list(a.columns)
    ours, peer = measure_pair(
        lambda: diff_frames(a, b),
        lambda: a.compare(b[shared]),
        repeat=repeat,
        labels=("diff_frames", "DataFrame.compare"),
    )
    report("diff of two 1M-row OHLCV frames", ours, peer)


def bench_job(repeat: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="stagepoint-etl-"))

    def with_pipeline() -> None:
        pipeline = Pipeline(
            "etl", checkpoint_dir=work / "ckpt", log_dir=work / "logs", cleanup=False
        )
        with pipeline:
            with pipeline.stage("data_extraction") as s:
                s.checkpoint(extract("synthetic", TICKERS, START, END))
            with pipeline.stage("data_validation") as s2:
                flagged, metrics = validate(s.data)
                s2.data_quality(**metrics)
                s2.checkpoint(flagged)
            with pipeline.stage("data_preprocessing") as s3:
                s3.checkpoint(preprocess(s2.data))
            with pipeline.stage("data_storage") as s4:
                s4.checkpoint(store(s3.data, work / "out" / output_filename(TICKERS, START, END)))

    def bare() -> None:
        flagged, _ = validate(extract("synthetic", TICKERS, START, END))
        store(preprocess(flagged), work / "bare" / output_filename(TICKERS, START, END))

    try:
        ours, peer = measure_pair(
            with_pipeline, bare, repeat=repeat, labels=("4 checkpointed stages", "bare functions")
        )
        report("ETL job, 50 tickers x 10 years (130,400 rows)", ours, peer)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    bench_diff(args.repeat)
    bench_job(args.repeat)


if __name__ == "__main__":
    main()
