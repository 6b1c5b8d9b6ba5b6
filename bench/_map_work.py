"""Item functions of bench_map, importable by the Dask workers (``python -m bench.bench_map``)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

ROWS = 200_000


def ohlcv(item: int, rows: int = ROWS) -> pd.DataFrame:
    """A deterministic OHLCV-like frame of ``rows`` rows for item ``item``."""
    rng = np.random.default_rng(item)
    close = 100 + rng.standard_normal(rows).cumsum()
    return pd.DataFrame(
        {
            "date": pd.date_range("2000-01-01", periods=rows, freq="min"),
            "open": close + rng.standard_normal(rows) * 0.1,
            "high": close + 1.0,
            "low": close - 1.0,
            "close": close,
            "volume": rng.integers(0, 10**6, rows),
        }
    )


def ohlcv_to_parquet(directory: str, item: int) -> pd.DataFrame:
    """The peer's task: compute the frame and write it with ``DataFrame.to_parquet``."""
    frame = ohlcv(item)
    frame.to_parquet(Path(directory) / f"{item}-{uuid.uuid4().hex}.parquet")
    return frame


def ohlcv_path(directory: str, item: int) -> str:
    """The peer's task when the driver wants no data back: write it, return the path."""
    path = Path(directory) / f"{item}-{uuid.uuid4().hex}.parquet"
    ohlcv(item).to_parquet(path)
    return str(path)


def ohlcv_path_durable(directory: str, item: int) -> str:
    """:func:`ohlcv_path`, then fsync of the file and of its directory: a durable peer."""
    path = Path(directory) / f"{item}-{uuid.uuid4().hex}.parquet"
    ohlcv(item).to_parquet(path)
    for target, flags in ((path, os.O_RDONLY), (path.parent, os.O_RDONLY | os.O_DIRECTORY)):
        fd = os.open(target, flags)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return str(path)


def tiny(item: int) -> pd.DataFrame:
    """A one-row frame: what is left is the per-item overhead."""
    return pd.DataFrame({"item": [item]})
