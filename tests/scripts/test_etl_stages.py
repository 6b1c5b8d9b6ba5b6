"""The ETL stage functions on crafted frames: quality metrics, cleaning, features, storage."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scripts.etl_stages import (
    extract,
    file_sha256,
    output_filename,
    output_intact,
    preprocess,
    quality_metrics,
    store,
    validate,
)
from scripts.market_data import generate_ohlcv


def _bars(closes: list[float], ticker: str = "AAA", start: str = "2023-01-02") -> pd.DataFrame:
    close = np.array(closes, dtype="float64")
    return pd.DataFrame(
        {
            "date": pd.bdate_range(start, periods=len(close)).as_unit("us"),
            "ticker": pd.Series([ticker] * len(close), dtype="str"),
            "open": close,
            "high": close + 1.0,
            "low": close - 1.0,
            "close": close,
            "volume": np.full(len(close), 1000, dtype="int64"),
        }
    )


def _parquet_round_trip(frame: pd.DataFrame) -> pd.DataFrame:
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    buffer.seek(0)
    return pd.read_parquet(buffer)


def test_clean_bars_have_no_issues() -> None:
    flagged, metrics = validate(_bars([100.0 + i for i in range(30)]))
    assert metrics["issues"] == 0
    assert metrics["rows"] == 30
    assert metrics["missing_rate"] == 0.0
    assert not flagged["is_outlier"].any()


def test_missing_values_and_rate() -> None:
    raw = _bars([100.0] * 20)
    raw.loc[[3, 4], "close"] = np.nan
    raw.loc[5, "open"] = np.nan
    _, metrics = validate(raw)
    assert metrics["missing_values"] == 3
    assert metrics["missing_by_column"] == {"open": 1, "close": 2}
    assert metrics["missing_rate"] == round(3 / (20 * 7), 6)


def test_a_spike_is_an_outlier_but_a_lasting_step_is_not() -> None:
    closes = [100.0] * 15 + [130.0] * 15  # a permanent 30% step
    closes[5] = 170.0  # a one-day spike
    flagged, metrics = validate(_bars(closes))
    assert flagged.index[flagged["is_outlier"]].tolist() == [5]
    assert metrics["outliers"] == 1


def test_duplicate_dates_and_ohlc_violations() -> None:
    raw = _bars([100.0] * 10)
    raw.loc[2, "high"] = 99.0  # below open/close
    raw.loc[4, "low"] = 100.5  # above open/close
    raw = pd.concat([raw, raw.iloc[[7]]], ignore_index=True)
    flagged, metrics = validate(raw)
    assert metrics["duplicate_dates"] == 1
    assert metrics["ohlc_violations"] == 2
    assert flagged["ohlc_violation"].sum() == 2


def test_incomplete_bars_are_not_counted_as_ohlc_violations() -> None:
    raw = _bars([100.0] * 10)
    raw.loc[2, "open"] = np.nan
    assert validate(raw)[1]["ohlc_violations"] == 0


def test_gaps_in_the_calendar_and_nonpositive_prices() -> None:
    raw = _bars([100.0] * 10).drop(index=[3, 4]).reset_index(drop=True)
    raw.loc[0, "low"] = 0.0
    metrics = validate(raw)[1]
    assert metrics["missing_business_days"] == 2
    assert metrics["nonpositive_prices"] == 1


def test_metrics_are_per_ticker_and_json_types() -> None:
    frame = pd.concat([_bars([10.0] * 12, "AAA"), _bars([20.0] * 12, "BBB")], ignore_index=True)
    metrics = quality_metrics(validate(frame)[0])
    assert metrics["tickers"] == 2
    assert all(isinstance(v, int | float | dict) for v in metrics.values())


def test_preprocess_fills_flags_and_adds_features() -> None:
    closes = [100.0 + i for i in range(30)]
    closes[10] = 300.0  # outlier: treated as a gap
    raw = _bars(closes)
    raw.loc[20, "close"] = np.nan
    raw = pd.concat([raw, raw.iloc[[25]]], ignore_index=True)  # duplicate date
    out = preprocess(validate(raw)[0])
    assert len(out) == 30
    assert out["was_filled"].tolist().count(True) == 2
    assert out.loc[10, "close"] == 109.0 and out.loc[20, "close"] == 119.0
    assert out[["open", "high", "low", "close"]].notna().all().all()
    assert (out["high"] >= out[["open", "close"]].max(axis=1)).all()
    assert (out["low"] <= out[["open", "close"]].min(axis=1)).all()
    assert out.loc[1, "return_1d"] == pytest.approx(101 / 100 - 1)
    assert out.loc[1, "log_return"] == pytest.approx(np.log(101 / 100))
    assert out["ma_5"].isna()[3] and out.loc[4, "ma_5"] == pytest.approx(102.0)
    assert out["ma_20"].notna().sum() == 11


def test_features_do_not_leak_across_tickers() -> None:
    frame = pd.concat([_bars([10.0] * 5, "AAA"), _bars([20.0] * 5, "BBB")], ignore_index=True)
    out = preprocess(validate(frame)[0])
    assert out["return_1d"].isna()[5]  # first bar of BBB


def test_stage_outputs_survive_a_parquet_round_trip() -> None:
    raw = generate_ohlcv(["AAPL", "MSFT"], "2023-01-01", "2023-12-31")
    flagged, _ = validate(raw)
    for frame in (raw, flagged, preprocess(flagged)):
        pd.testing.assert_frame_equal(_parquet_round_trip(frame), frame)
    pd.testing.assert_frame_equal(preprocess(_parquet_round_trip(flagged)), preprocess(flagged))


def test_extract_reports_progress_per_ticker() -> None:
    seen: list[tuple[int, int]] = []
    extract(
        "synthetic",
        ["A", "B", "C"],
        "2023-01-01",
        "2023-01-31",
        progress=lambda d, t: seen.append((d, t)),
    )
    assert seen[-1] == (3, 3)


@pytest.mark.parametrize(
    ("tickers", "expected"),
    [
        (["MSFT", "AAPL"], "ohlcv_AAPL-MSFT_20230101_20231231.parquet"),
        ([f"T{i}" for i in range(5)], "ohlcv_5tickers-"),
    ],
)
def test_output_filename_is_stable(tickers: list[str], expected: str) -> None:
    name = output_filename(tickers, "2023-01-01", "2023-12-31")
    assert name.startswith(expected)
    assert name == output_filename(list(reversed(tickers)), "2023-01-01", "2023-12-31")


def test_store_writes_atomically_and_summarises(tmp_path: Path) -> None:
    frame = preprocess(validate(_bars([100.0] * 25))[0])
    target = tmp_path / "out" / "bars.parquet"
    summary = store(frame, target)
    pd.testing.assert_frame_equal(pd.read_parquet(target), frame)
    assert summary.loc[0, "path"] == str(target.resolve())
    assert summary.loc[0, "rows"] == 25
    assert summary.loc[0, "bytes"] == target.stat().st_size
    assert [p.name for p in target.parent.iterdir()] == ["bars.parquet"]


def test_output_intact_checks_the_written_file(tmp_path: Path) -> None:
    target = tmp_path / "out.parquet"
    summary = store(_bars([1.0, 2.0, 3.0]), target)
    assert summary["sha256"].iloc[0] == file_sha256(target)
    assert output_intact(summary)
    target.write_bytes(target.read_bytes() + b"x")
    assert not output_intact(summary)
    target.unlink()
    assert not output_intact(summary)
