"""The four stages of the example ETL job, as pure functions of frames.

``run_etl_pipeline.py`` wraps each in a ``with pipeline.stage(...)``; keeping the bodies here lets
them be tested without a pipeline. Every frame a stage returns survives a Parquet round trip
unchanged (plain ``bool``/``int64``/``float64``/``str``/``datetime64[us]`` columns, ``RangeIndex``),
so a resumed run that starts from a checkpoint computes exactly what an uninterrupted run does.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scripts.market_data import COLUMNS, PRICE_COLUMNS, generate_ohlcv, read_ohlcv_csv

__all__ = [
    "MOVING_AVERAGE_WINDOWS",
    "OUTLIER_THRESHOLD",
    "STAGES",
    "extract",
    "file_sha256",
    "output_filename",
    "output_intact",
    "preprocess",
    "quality_metrics",
    "store",
    "validate",
]

STAGES = ("data_extraction", "data_validation", "data_preprocessing", "data_storage")
"""The stage names, in the order they run."""

OUTLIER_THRESHOLD = 0.25
"""A close this far (relative) from its ticker's centred 11-day median is an outlier."""

MOVING_AVERAGE_WINDOWS = (5, 20)
"""Windows (trading days) of the moving averages added by :func:`preprocess`."""

ProgressCallback = Callable[[int, int], None]


def extract(
    source: str,
    tickers: Sequence[str] | None,
    start: str,
    end: str,
    *,
    progress: ProgressCallback | None = None,
) -> pd.DataFrame:
    """Return the raw OHLCV bars: ``source`` is ``"synthetic"`` or ``"csv:PATH"``.

    Raises:
        market_data.MarketDataError: the CSV cannot be read or lacks a column or ticker.
    """
    if source.startswith("csv:"):
        frame = read_ohlcv_csv(source[4:], tickers=tickers, start=start, end=end)
        if progress is not None:
            progress(1, 1)
        return frame
    if not tickers:
        raise ValueError("the synthetic source needs at least one ticker")
    return generate_ohlcv(tickers, start, end, progress=progress)


def _ticker_slices(frame: pd.DataFrame) -> list[slice]:
    """Contiguous row ranges of each ticker in a frame sorted by ticker."""
    tickers = frame["ticker"].to_numpy()
    if len(tickers) == 0:
        return []
    starts = np.flatnonzero(np.r_[True, tickers[1:] != tickers[:-1]])
    ends = np.r_[starts[1:], len(tickers)]
    return [slice(int(s), int(e)) for s, e in zip(starts, ends, strict=True)]


def _outlier_mask(close: pd.Series) -> np.ndarray[Any, np.dtype[np.bool_]]:
    median = close.rolling(11, center=True, min_periods=3).median()
    deviation = (close / median - 1.0).abs()
    return (deviation > OUTLIER_THRESHOLD).to_numpy(dtype=bool, na_value=False)


def validate(
    raw: pd.DataFrame, *, progress: ProgressCallback | None = None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Flag suspicious bars and measure the data's quality; no row is changed or dropped.

    Adds two boolean columns: ``is_outlier`` (the close is more than :data:`OUTLIER_THRESHOLD`
    from its ticker's centred 11-day median) and ``ohlc_violation`` (a complete bar whose high is
    below its open/close or whose low is above them).

    Returns:
        ``(flagged frame, metrics)`` where metrics are those of :func:`quality_metrics`.
    """
    frame = raw.sort_values(["ticker", "date"], kind="stable", ignore_index=True)
    outliers = np.zeros(len(frame), dtype=bool)
    slices = _ticker_slices(frame)
    for i, part in enumerate(slices, 1):
        outliers[part] = _outlier_mask(frame["close"].iloc[part].reset_index(drop=True))
        if progress is not None:
            progress(i, len(slices))
    frame["is_outlier"] = outliers
    frame["ohlc_violation"] = _ohlc_violations(frame)
    return frame, quality_metrics(frame)


def _ohlc_violations(frame: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.bool_]]:
    o, h, low, c = (frame[col].to_numpy(dtype="float64") for col in PRICE_COLUMNS)
    with np.errstate(invalid="ignore"):
        bad = (h < np.maximum(o, c)) | (low > np.minimum(o, c)) | (low > h)
    complete = ~(np.isnan(o) | np.isnan(h) | np.isnan(low) | np.isnan(c))
    return np.asarray(bad & complete, dtype=bool)


def quality_metrics(flagged: pd.DataFrame) -> dict[str, Any]:
    """Data-quality figures of a frame returned by :func:`validate` (JSON-safe values).

    Keys: ``rows``, ``tickers``, ``missing_values`` (empty cells in the OHLCV columns),
    ``missing_rate`` (their share of all OHLCV cells), ``missing_by_column``, ``outliers``,
    ``duplicate_dates`` (rows repeating a (ticker, date) seen before), ``ohlc_violations``,
    ``nonpositive_prices``, ``missing_business_days`` (business days absent between each ticker's
    first and last date) and ``issues`` (the sum of the counts above).
    """
    rows = len(flagged)
    nulls = flagged[list(COLUMNS)].isna().sum()
    missing = int(nulls.sum())
    prices = flagged[list(PRICE_COLUMNS)].to_numpy(dtype="float64")
    with np.errstate(invalid="ignore"):
        nonpositive = int((prices <= 0).sum())
    duplicates = int(flagged.duplicated(["ticker", "date"]).sum())
    gaps = 0
    if rows:
        spans = flagged.groupby("ticker", sort=True)["date"].agg(["min", "max", "nunique"])
        for first, last, present in spans.itertuples(index=False):
            gaps += len(pd.bdate_range(first, last)) - int(present)
    metrics: dict[str, Any] = {
        "rows": rows,
        "tickers": int(flagged["ticker"].nunique()),
        "missing_values": missing,
        "missing_rate": round(missing / (rows * len(COLUMNS)), 6) if rows else 0.0,
        "missing_by_column": {col: int(n) for col, n in nulls.items() if n},
        "outliers": int(flagged["is_outlier"].sum()),
        "duplicate_dates": duplicates,
        "ohlc_violations": int(flagged["ohlc_violation"].sum()),
        "nonpositive_prices": nonpositive,
        "missing_business_days": max(gaps, 0),
    }
    metrics["issues"] = (
        missing
        + metrics["outliers"]
        + duplicates
        + metrics["ohlc_violations"]
        + nonpositive
        + metrics["missing_business_days"]
    )
    return metrics


def preprocess(flagged: pd.DataFrame, *, progress: ProgressCallback | None = None) -> pd.DataFrame:
    """Clean the validated bars and add features, one ticker at a time.

    Drops repeated (ticker, date) rows (the first is kept); treats outlier prices as missing;
    fills missing prices from the ticker's previous bar (then its next, for leading gaps) and
    marks those rows ``was_filled``; widens high/low so every bar is consistent; adds
    ``return_1d`` (close-to-close), ``log_return`` and ``ma_<n>`` moving averages of the close
    (:data:`MOVING_AVERAGE_WINDOWS`, NaN until a full window is available).

    Returns:
        A new frame sorted by ticker then date with a ``RangeIndex``.
    """
    frame = flagged.drop_duplicates(["ticker", "date"], keep="first", ignore_index=True)
    slices = _ticker_slices(frame)
    parts = []
    for i, part in enumerate(slices, 1):
        parts.append(_preprocess_ticker(frame.iloc[part].reset_index(drop=True)))
        if progress is not None:
            progress(i, len(slices))
    if not parts:
        return _preprocess_ticker(frame)
    return pd.concat(parts, ignore_index=True)


def _preprocess_ticker(bars: pd.DataFrame) -> pd.DataFrame:
    out = bars.copy()
    outlier = out["is_outlier"].to_numpy(dtype=bool)
    prices = out[list(PRICE_COLUMNS)].mask(np.repeat(outlier[:, None], len(PRICE_COLUMNS), axis=1))
    was_filled = prices.isna().any(axis=1).to_numpy(dtype=bool)
    prices = prices.ffill().bfill()
    out[list(PRICE_COLUMNS)] = prices
    out["high"] = out[list(PRICE_COLUMNS)].max(axis=1)
    out["low"] = out[list(PRICE_COLUMNS)].min(axis=1)
    out["was_filled"] = was_filled
    close = out["close"]
    out["return_1d"] = close.pct_change()
    out["log_return"] = np.log(close / close.shift(1))
    for window in MOVING_AVERAGE_WINDOWS:
        out[f"ma_{window}"] = close.rolling(window, min_periods=window).mean()
    return out


def output_filename(tickers: Sequence[str], start: str, end: str) -> str:
    """A stable file name for the processed output of ``tickers`` over ``[start, end]``.

    Up to four tickers are spelled out (``ohlcv_AAPL-MSFT_20230101_20231231.parquet``); more are
    summarised by their count and a CRC-32 of the sorted list, so the name stays short.
    """
    ordered = sorted(tickers)
    if len(ordered) <= 4:
        label = "-".join(ordered)
    else:
        digest = zlib.crc32(",".join(ordered).encode("utf-8"))
        label = f"{len(ordered)}tickers-{digest:08x}"
    day = "{:%Y%m%d}".format
    return f"ohlcv_{label}_{day(pd.Timestamp(start))}_{day(pd.Timestamp(end))}.parquet"


def file_sha256(path: str | Path) -> str:
    """The SHA-256 (hex) of a file's bytes."""
    with Path(path).open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def output_intact(summary: pd.DataFrame) -> bool:
    """Whether the file described by a :func:`store` summary is still there, unchanged."""
    path = Path(str(summary["path"].iloc[0]))
    return path.is_file() and file_sha256(path) == str(summary["sha256"].iloc[0])


def store(processed: pd.DataFrame, path: str | Path) -> pd.DataFrame:
    """Write ``processed`` to ``path`` as Parquet, atomically (temporary file, fsync, rename).

    Parent directories are created. A reader sees the old file or the new one, never a partial
    one.

    Returns:
        A one-row summary frame: ``path`` (absolute), ``rows``, ``columns``, ``bytes``, ``sha256``.
    """
    target = Path(path).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        processed.to_parquet(temporary, index=False)
        with temporary.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
            os.fsync(handle.fileno())
        size = temporary.stat().st_size
        temporary.replace(target)
    finally:
        temporary.unlink(missing_ok=True)
    return pd.DataFrame(
        {
            "path": pd.Series([str(target)], dtype="str"),
            "rows": pd.Series([len(processed)], dtype="int64"),
            "columns": pd.Series([len(processed.columns)], dtype="int64"),
            "bytes": pd.Series([size], dtype="int64"),
            "sha256": pd.Series([digest], dtype="str"),
        }
    )
