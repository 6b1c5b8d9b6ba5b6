"""Make a few real runs to look at: ``runs``, ``run``, ``report`` and ``serve`` show them.

    python scripts/demo_runs.py --dir data/checkpoints --log-dir logs

Makes three runs of real ``Pipeline`` objects:

- ``etl``: extract, a fan-out of ``fetch`` items (one per ticker, ``key=``), a nested stage, a
  data-quality check, and a stage that fails with a message that looks like HTML; then a resume
  that restores the finished stages from their checkpoints and completes the run;
- ``nightly``: one run that completes at the first attempt;
- ``adhoc``: a run without checkpoints (events only, no run record).

The tests of the report, the dashboard and the browser use the same runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:  # run as a file: make the packages importable
    sys.path.insert(0, str(_ROOT))

from checkpointing import Pipeline  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["XSS_PROBE", "DemoFailure", "main", "make_demo_runs"]

TICKERS = ("AAPL", "MSFT", "NVDA", "AMZN")
#: The message of the failing stage: shown as text, never run, in the report and dashboard.
XSS_PROBE = "<img src=x onerror=\"document.title='pwned'\"> feed down & <b>bold</b>"


class DemoFailure(RuntimeError):
    """The failure the demo's first attempt raises."""


def _prices(ticker: str, rows: int = 250) -> pd.DataFrame:
    rng = np.random.default_rng(sum(map(ord, ticker)))
    return pd.DataFrame(
        {
            "ticker": ticker,
            "day": pd.date_range("2025-01-01", periods=rows, freq="D"),
            "close": 100 + rng.standard_normal(rows).cumsum(),
            "volume": rng.integers(1_000, 1_000_000, rows),
        }
    )


def _etl(checkpoint_dir: Path, log_dir: Path, *, resume: bool) -> str:
    pipeline = Pipeline("etl", checkpoint_dir=checkpoint_dir, log_dir=log_dir, resume=resume)
    try:
        with pipeline:
            with pipeline.stage("extract") as s:
                if not s.restored:
                    with s.span("download"), s.span("parse"):
                        prices = [_prices(t) for t in TICKERS]
                    s.checkpoint(pd.concat(prices, ignore_index=True))
                raw = s.data
            for ticker in TICKERS:
                with pipeline.stage("fetch", key=ticker) as s:
                    if not s.restored:
                        s.checkpoint(raw[raw["ticker"] == ticker].reset_index(drop=True))
            with pipeline.stage("validate") as s:
                if not s.restored:
                    with pipeline.stage("check_schema"):
                        pass
                    s.data_quality(rows=len(raw), null_close=0, duplicate_days=0)
                    s.checkpoint(raw.dropna())
            with pipeline.stage("load") as s:
                if not resume:
                    raise DemoFailure(XSS_PROBE)
                s.checkpoint(raw.groupby("ticker", as_index=False)["close"].mean())
    except DemoFailure:
        pass
    return pipeline.pipeline_id


def _nightly(checkpoint_dir: Path, log_dir: Path) -> str:
    pipeline = Pipeline("nightly", checkpoint_dir=checkpoint_dir, log_dir=log_dir)
    with pipeline:
        for name in ("download", "clean", "publish"):
            with pipeline.stage(name) as s:
                s.checkpoint(_prices(name.upper()[:4], rows=50))
    return pipeline.pipeline_id


def _adhoc(log_dir: Path) -> str:
    pipeline = Pipeline("adhoc", checkpoints=False, log_dir=log_dir)
    with pipeline, pipeline.stage("explore") as s:
        s.data_quality(rows=10)
    return pipeline.pipeline_id


def make_demo_runs(checkpoint_dir: str | Path, log_dir: str | Path) -> dict[str, str]:
    """Make the demo runs; return their pipeline ids by pipeline name."""
    checkpoint_dir, log_dir = Path(checkpoint_dir), Path(log_dir)
    etl = _etl(checkpoint_dir, log_dir, resume=False)
    resumed = _etl(checkpoint_dir, log_dir, resume=True)
    assert resumed == etl
    return {
        "etl": etl,
        "nightly": _nightly(checkpoint_dir, log_dir),
        "adhoc": _adhoc(log_dir),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Make the demo runs in ``--dir`` and ``--log-dir``; print their ids."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="data/checkpoints", type=Path)
    parser.add_argument("--log-dir", default="logs", type=Path)
    args = parser.parse_args(argv)
    for name, pipeline_id in make_demo_runs(args.dir, args.log_dir).items():
        print(f"{name:8} {pipeline_id}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
