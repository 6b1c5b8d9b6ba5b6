"""The built-in market data: deterministic synthetic bars, consistent OHLC, the CSV reader."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scripts.market_data import (
    COLUMNS,
    MarketDataError,
    generate_ohlcv,
    generate_ticker,
    parse_tickers,
    read_ohlcv_csv,
)

ROOT = Path(__file__).resolve().parents[2]


def test_same_ticker_and_range_give_the_same_frame_in_another_process(tmp_path: Path) -> None:
    here = generate_ticker("AAPL", "2023-01-01", "2023-12-31")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from scripts.market_data import generate_ticker;"
        "generate_ticker('AAPL', '2023-01-01', '2023-12-31').to_parquet(sys.argv[2])"
    )
    target = tmp_path / "aapl.parquet"
    # a new interpreter has another hash() salt: the seed must not depend on it
    subprocess.run([sys.executable, "-c", code, str(ROOT), str(target)], check=True)
    pd.testing.assert_frame_equal(pd.read_parquet(target), here)


def test_tickers_get_different_series() -> None:
    a = generate_ticker("AAPL", "2023-01-01", "2023-03-31")
    b = generate_ticker("MSFT", "2023-01-01", "2023-03-31")
    assert not np.allclose(a["high"], b["high"])


@pytest.mark.parametrize("ticker", ["AAPL", "MSFT", "BRK.B", "X"])
def test_bars_are_consistent_business_days_with_realistic_volume(ticker: str) -> None:
    frame = generate_ticker(ticker, "2020-01-01", "2023-12-31")
    assert list(frame.columns) == list(COLUMNS)
    assert frame["date"].dt.day_of_week.max() < 5
    assert frame["date"].is_monotonic_increasing and frame["date"].is_unique
    complete = frame.dropna()
    assert (complete["high"] >= complete[["open", "close"]].max(axis=1)).all()
    assert (complete["low"] <= complete[["open", "close"]].min(axis=1)).all()
    assert (frame[["high", "low"]].notna()).all().all()
    assert (frame["low"] > 0).all()
    assert frame["volume"].dtype == "int64"
    assert frame["volume"].between(10_000, 10_000_000_000).all()


def test_planted_missing_values_and_spikes() -> None:
    frame = generate_ticker("AAPL", "2023-01-01", "2023-12-31")
    assert 1 <= frame["close"].isna().sum() <= 5
    assert 1 <= frame["open"].isna().sum() <= 5
    jumps = (frame["close"].pct_change(fill_method=None).abs() > 0.3).sum()
    assert jumps >= 1


def test_generate_ohlcv_is_sorted_and_reports_progress() -> None:
    seen: list[tuple[int, int]] = []
    frame = generate_ohlcv(
        ["MSFT", "AAPL"], "2023-01-01", "2023-01-31", progress=lambda d, t: seen.append((d, t))
    )
    assert seen == [(1, 2), (2, 2)]
    assert frame["ticker"].tolist() == sorted(frame["ticker"].tolist())
    assert isinstance(frame.index, pd.RangeIndex)


def test_an_empty_range_gives_an_empty_typed_frame() -> None:
    frame = generate_ohlcv(["AAPL"], "2023-01-07", "2023-01-08")  # a weekend
    assert frame.empty
    assert list(frame.columns) == list(COLUMNS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("AAPL,MSFT", ["AAPL", "MSFT"]),
        (" aapl , msft,AAPL ", ["AAPL", "MSFT"]),
        ("BRK.B", ["BRK.B"]),
    ],
)
def test_parse_tickers(text: str, expected: list[str]) -> None:
    assert parse_tickers(text) == expected


@pytest.mark.parametrize("text", ["", " , ", "AAPL,MS FT", "../etc", "1ABC", "TOOLONGTICKER"])
def test_parse_tickers_rejects(text: str) -> None:
    with pytest.raises(MarketDataError):
        parse_tickers(text)


def test_csv_round_trip_with_filters(tmp_path: Path) -> None:
    frame = generate_ohlcv(["AAPL", "MSFT", "IBM"], "2023-01-01", "2023-03-31")
    path = tmp_path / "bars.csv"
    frame.sample(frac=1.0, random_state=1).rename(columns=str.upper).to_csv(path, index=False)
    back = read_ohlcv_csv(path, tickers=["AAPL", "MSFT"], start="2023-02-01", end="2023-02-28")
    expected = frame[
        frame["ticker"].isin(["AAPL", "MSFT"]) & frame["date"].between("2023-02-01", "2023-02-28")
    ].reset_index(drop=True)
    pd.testing.assert_frame_equal(back, expected, check_exact=False)


def test_csv_missing_columns_are_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("date,ticker,open,close\n2023-01-02,AAPL,1,2\n")
    with pytest.raises(MarketDataError, match="lacks the column\\(s\\) high, low, volume") as info:
        read_ohlcv_csv(path)
    assert info.value.source == str(path)


def test_csv_missing_file_and_absent_ticker(tmp_path: Path) -> None:
    with pytest.raises(MarketDataError, match="not found"):
        read_ohlcv_csv(tmp_path / "nope.csv")
    path = tmp_path / "bars.csv"
    generate_ohlcv(["AAPL"], "2023-01-01", "2023-01-31").to_csv(path, index=False)
    with pytest.raises(MarketDataError, match="no rows for MSFT"):
        read_ohlcv_csv(path, tickers=["AAPL", "MSFT"])


def test_market_data_error_pickles() -> None:
    error = pickle.loads(pickle.dumps(MarketDataError("bad", source="x.csv")))
    assert (str(error), error.source) == ("bad", "x.csv")
    assert isinstance(error, ValueError)
