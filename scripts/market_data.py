"""Built-in market data for the example ETL job: a synthetic OHLCV generator and a CSV reader.

Both return the same long-format frame, one row per (ticker, business day), sorted by ticker then
date, with a fresh ``RangeIndex``:

========  ==============================  ===========================================
column    dtype                           meaning
========  ==============================  ===========================================
date      ``datetime64[us]``              trading day (no time zone)
ticker    ``str``                         symbol, upper case
open      ``float64``                     opening price (may be missing)
high      ``float64``                     highest price of the day
low       ``float64``                     lowest price of the day
close     ``float64``                     closing price (may be missing)
volume    ``int64``                       shares traded
========  ==============================  ===========================================

The synthetic data is deterministic: the same ticker and date range give the same frame on every
machine and every Python process (the seed comes from ``zlib.crc32`` of the ticker, not from
``hash()``, which is salted per process).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "COLUMNS",
    "PRICE_COLUMNS",
    "MarketDataError",
    "generate_ohlcv",
    "generate_ticker",
    "parse_tickers",
    "read_ohlcv_csv",
    "read_ohlcv_header",
]

COLUMNS = ("date", "ticker", "open", "high", "low", "close", "volume")
"""The columns of every OHLCV frame, in order."""

PRICE_COLUMNS = ("open", "high", "low", "close")
"""The price columns of an OHLCV frame."""

ProgressCallback = Callable[[int, int], None]

_TICKER = re.compile(r"[A-Z][A-Z0-9.\-]{0,9}")

# Rates of the imperfections the generator plants so that validation has something to find.
# Series of 20 days or more get at least one of each.
_MISSING_RATE = 0.004  # share of open cells and of close cells left empty
_OUTLIER_RATE = 0.003  # share of days that are a one-day price spike


class MarketDataError(ValueError):
    """Market data cannot be produced or read: a bad ticker list, an unreadable or malformed CSV.

    Attributes:
        source: what was being read (a path or ``"synthetic"``).
    """

    def __init__(self, message: str, *, source: str = "synthetic") -> None:
        super().__init__(message)
        self.source = source

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_error, (str(self), self.source))


def _rebuild_error(message: str, source: str) -> MarketDataError:
    return MarketDataError(message, source=source)


def parse_tickers(text: str) -> list[str]:
    """Split a comma-separated ticker list, upper-case it and drop duplicates (order kept).

    Raises:
        MarketDataError: the list is empty or a ticker is not 1-10 letters, digits, ``.`` or ``-``
            starting with a letter.
    """
    tickers: list[str] = []
    for raw in text.split(","):
        ticker = raw.strip().upper()
        if not ticker:
            continue
        if not _TICKER.fullmatch(ticker):
            raise MarketDataError(f"invalid ticker {raw.strip()!r}")
        if ticker not in tickers:
            tickers.append(ticker)
    if not tickers:
        raise MarketDataError("the ticker list is empty")
    return tickers


def _seed(ticker: str) -> int:
    return zlib.crc32(ticker.encode("utf-8"))


def generate_ticker(
    ticker: str, start: pd.Timestamp | str, end: pd.Timestamp | str
) -> pd.DataFrame:
    """Synthesize one ticker's daily OHLCV bars over the business days in ``[start, end]``.

    Prices follow a geometric random walk from a ticker-specific level; on every row with all
    prices present ``high >= max(open, close)`` and ``low <= min(open, close)``. About 0.4% of
    open/close cells are missing and about 0.2% of days are a price spike (all four prices scaled
    together, so the bar stays consistent).

    Returns:
        An OHLCV frame (see the module docstring); empty if the range holds no business day.
    """
    dates = pd.bdate_range(pd.Timestamp(start), pd.Timestamp(end)).as_unit("us")
    n = len(dates)
    rng = np.random.default_rng(_seed(ticker))
    level = 20.0 + float(rng.random()) * 480.0
    drift = 0.0003
    vol = 0.01 + float(rng.random()) * 0.02
    log_returns = rng.normal(drift, vol, n)
    close = level * np.exp(np.cumsum(log_returns))
    gap = rng.normal(0.0, vol / 3.0, n)
    open_ = np.empty(n)
    if n:
        open_[0] = level
        open_[1:] = close[:-1] * np.exp(gap[1:])
    body_high = np.maximum(open_, close)
    body_low = np.minimum(open_, close)
    high = body_high * (1.0 + np.abs(rng.normal(0.0, vol / 2.0, n)))
    low = body_low * (1.0 - np.abs(rng.normal(0.0, vol / 2.0, n)))
    base_volume = 1e6 * (1.0 + float(rng.random()) * 40.0)
    volume = (
        base_volume * rng.lognormal(0.0, 0.35, n) * (1.0 + 20.0 * np.abs(log_returns))
    ).round()

    factor = np.ones(n)
    factor[_plant(rng, n, _OUTLIER_RATE)] = rng.choice([0.6, 1.6])
    open_, high, low, close = (x * factor for x in (open_, high, low, close))
    open_[_plant(rng, n, _MISSING_RATE)] = np.nan
    close[_plant(rng, n, _MISSING_RATE)] = np.nan

    return pd.DataFrame(
        {
            "date": dates,
            "ticker": pd.Series([ticker] * n, dtype="str"),
            "open": open_.round(4),
            "high": high.round(4),
            "low": low.round(4),
            "close": close.round(4),
            "volume": volume.astype("int64"),
        }
    )


def _plant(rng: np.random.Generator, n: int, rate: float) -> np.ndarray[Any, np.dtype[np.intp]]:
    """Distinct positions, away from the ends, for ``rate * n`` imperfections (at least one)."""
    if n < 20:
        return np.empty(0, dtype=np.intp)
    count = max(1, round(n * rate))
    return np.sort(rng.choice(np.arange(5, n - 5), size=count, replace=False))


def generate_ohlcv(
    tickers: Sequence[str],
    start: pd.Timestamp | str,
    end: pd.Timestamp | str,
    *,
    progress: ProgressCallback | None = None,
) -> pd.DataFrame:
    """Synthesize OHLCV bars for several tickers (see :func:`generate_ticker`), one after another.

    Args:
        tickers: symbols, each producing an independent, deterministic series.
        start: first calendar day (inclusive).
        end: last calendar day (inclusive).
        progress: called as ``progress(done, total)`` after each ticker.

    Returns:
        The concatenated frame, sorted by ticker then date, with a ``RangeIndex``.
    """
    frames = []
    for i, ticker in enumerate(tickers, 1):
        frames.append(generate_ticker(ticker, start, end))
        if progress is not None:
            progress(i, len(tickers))
    return _finish(frames)


def _finish(frames: list[pd.DataFrame]) -> pd.DataFrame:
    if not frames:
        return _empty()
    frame = pd.concat(frames, ignore_index=True)
    return frame.sort_values(["ticker", "date"], kind="stable", ignore_index=True)


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": pd.Series([], dtype="datetime64[us]"),
            "ticker": pd.Series([], dtype="str"),
            **{c: pd.Series([], dtype="float64") for c in PRICE_COLUMNS},
            "volume": pd.Series([], dtype="int64"),
        }
    )


def read_ohlcv_header(path: str | Path) -> list[str]:
    """Check that ``path`` is a readable CSV with the OHLCV columns; return its header.

    Raises:
        MarketDataError: the file is missing or unreadable, or a required column is absent.
    """
    source = str(path)
    try:
        header = pd.read_csv(path, nrows=0).columns
    except FileNotFoundError as exc:
        raise MarketDataError(f"CSV file not found: {source}", source=source) from exc
    except (OSError, ValueError) as exc:
        raise MarketDataError(f"cannot read CSV {source}: {exc}", source=source) from exc
    columns = [str(c).strip().lower() for c in header]
    missing = [c for c in COLUMNS if c not in columns]
    if missing:
        raise MarketDataError(
            f"CSV {source} lacks the column(s) {', '.join(missing)}; "
            f"expected {', '.join(COLUMNS)} (found {', '.join(columns) or 'none'})",
            source=source,
        )
    return columns


def read_ohlcv_csv(
    path: str | Path,
    *,
    tickers: Sequence[str] | None = None,
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
) -> pd.DataFrame:
    """Read an OHLCV CSV (columns ``date,ticker,open,high,low,close,volume``, any order).

    Column names are matched case-insensitively; extra columns are dropped. Empty price cells
    become NaN; empty volume cells become 0.

    Args:
        path: the CSV file.
        tickers: keep only these symbols (all when ``None``).
        start: drop rows before this day.
        end: drop rows after this day.

    Returns:
        An OHLCV frame (see the module docstring).

    Raises:
        MarketDataError: the file is missing or unreadable, a column is absent, a date or number
            cannot be parsed, or a requested ticker has no row.
    """
    source = str(path)
    read_ohlcv_header(path)
    try:
        raw = pd.read_csv(path, dtype={"ticker": "str"})
        raw.columns = [str(c).strip().lower() for c in raw.columns]
        frame = pd.DataFrame(
            {
                "date": pd.to_datetime(raw["date"]).astype("datetime64[us]"),
                "ticker": raw["ticker"].astype("str").str.strip().str.upper(),
                **{c: pd.to_numeric(raw[c]).astype("float64") for c in PRICE_COLUMNS},
                "volume": pd.to_numeric(raw["volume"]).fillna(0).round().astype("int64"),
            }
        )
    except (ValueError, TypeError) as exc:
        raise MarketDataError(f"cannot parse CSV {source}: {exc}", source=source) from exc
    if start is not None:
        frame = frame[frame["date"] >= pd.Timestamp(start)]
    if end is not None:
        frame = frame[frame["date"] <= pd.Timestamp(end)]
    if tickers is not None:
        absent = sorted(set(tickers) - set(frame["ticker"]))
        if absent:
            raise MarketDataError(
                f"CSV {source} has no rows for {', '.join(absent)} in the requested dates",
                source=source,
            )
        frame = frame[frame["ticker"].isin(list(tickers))]
    return _finish([frame])
