"""Repeated stages: each execution is restored from its own checkpoint, or refused clearly."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from checkpointing import Pipeline, StageIdentityError
from tests.pipeline._helpers import events, record_of

TICKERS = ["AAPL", "MSFT", "NVDA"]


def prices(ticker: str) -> pd.DataFrame:
    return pd.DataFrame(
        {"ticker": [ticker] * 3, "close": [float(len(ticker) + i) for i in (1, 2, 3)]}
    )


@pytest.fixture
def dirs(tmp_path):
    return {"checkpoint_dir": tmp_path / "ckpt", "log_dir": tmp_path / "logs"}


def _loop_run(p: Pipeline, tickers: list[str], *, keyed: bool, fail: bool) -> dict[str, str]:
    """Fetch each ticker in a stage of one name; return which ticker each frame holds."""
    got: dict[str, str] = {}
    with p:
        for ticker in tickers:
            with p.stage("fetch", key=ticker if keyed else None) as s:
                if not s.restored:
                    s.checkpoint(prices(ticker))
                got[ticker] = str(s.data["ticker"].iloc[0])
        with p.stage("load"):
            if fail:
                raise RuntimeError("database is down")
    return got


@pytest.mark.parametrize("keyed", [False, True])
def test_a_stage_repeated_in_a_loop_restores_each_iteration_from_its_own_checkpoint(dirs, keyed):
    with pytest.raises(RuntimeError):
        _loop_run(Pipeline("etl", **dirs), TICKERS, keyed=keyed, fail=True)
    resumed = Pipeline("etl", resume=True, **dirs)
    assert resumed.resumed
    got = _loop_run(resumed, TICKERS, keyed=keyed, fail=False)
    assert got == {t: t for t in TICKERS}
    restored = [
        e
        for e in events(dirs["log_dir"], resumed.pipeline_id)
        if e["event_type"] == "stage_restored"
    ]
    assert len(restored) == 3


def test_keys_restore_the_right_frame_when_the_order_changes(dirs):
    with pytest.raises(RuntimeError):
        _loop_run(Pipeline("etl", **dirs), TICKERS, keyed=True, fail=True)
    got = _loop_run(Pipeline("etl", resume=True, **dirs), TICKERS[::-1], keyed=True, fail=False)
    assert got == {t: t for t in TICKERS}


def test_a_step_called_once_per_item_restores_each_call(dirs):
    calls: list[str] = []

    def run(p: Pipeline, *, fail: bool) -> list[str]:
        @p.step("fetch")
        def fetch(ticker: str) -> pd.DataFrame:
            calls.append(ticker)
            return prices(ticker)

        with p:
            out = [str(fetch(t)["ticker"].iloc[0]) for t in TICKERS]
            if fail:
                raise RuntimeError("boom")
        return out

    with pytest.raises(RuntimeError):
        run(Pipeline("etl", **dirs), fail=True)
    assert run(Pipeline("etl", resume=True, **dirs), fail=False) == TICKERS
    assert calls == TICKERS  # nothing fetched twice


def test_the_same_key_twice_in_one_run_is_refused(dirs):
    p = Pipeline("etl", **dirs)
    with p:
        with p.stage("fetch", key="AAPL") as s:
            s.checkpoint(prices("AAPL"))
        with pytest.raises(StageIdentityError, match="AAPL"), p.stage("fetch", key="AAPL"):
            pass


def test_a_failed_key_may_be_retried_in_the_same_run(dirs):
    p = Pipeline("etl", **dirs)
    with p:
        with pytest.raises(OSError), p.stage("fetch", key="AAPL"):
            raise OSError("network")
        with p.stage("fetch", key="AAPL") as s:
            s.checkpoint(prices("AAPL"))
    assert [e["key"] for e in record_of(p)["stages"]] == ["AAPL"]


def test_a_record_with_unnumbered_repeats_is_refused_not_guessed(dirs):
    with pytest.raises(RuntimeError):
        _loop_run(Pipeline("etl", **dirs), TICKERS, keyed=False, fail=True)
    # A record written before executions were numbered: three "fetch" entries, no occurrence.
    [path] = (dirs["checkpoint_dir"] / "runs").glob("*.json")
    record = json.loads(path.read_text())
    for entry in record["stages"]:
        entry.pop("occurrence")
        entry.pop("key", None)
    path.write_text(json.dumps(record))
    p = Pipeline("etl", resume=True, **dirs)
    with pytest.raises(StageIdentityError, match="ambiguous"), p, p.stage("fetch"):
        pass


def test_invalid_keys_are_refused_before_the_stage_runs(dirs):
    p = Pipeline("etl", **dirs)
    with pytest.raises(ValueError, match="key"):
        p.stage("fetch", key="../etc")
