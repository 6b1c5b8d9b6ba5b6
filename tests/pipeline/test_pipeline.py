"""Pipeline and Stage: events in order, exceptions, user records, state rules, disabled parts."""

from __future__ import annotations

import json
import logging
import re

import pandas as pd
import pytest

from checkpointing import CheckpointManager, InvalidNameError, Pipeline, StageState
from logging_ext import PipelineLogger
from tests.pipeline._helpers import event_types, events, frame, read_lines, record_of


@pytest.fixture
def dirs(tmp_path):
    return {"checkpoint_dir": tmp_path / "ckpt", "log_dir": tmp_path / "logs"}


def test_pipeline_id_layout(dirs):
    p = Pipeline("etl", **dirs)
    assert re.fullmatch(r"etl_\d{8}_\d{6}_\d{6}[0-9a-f]{12}", p.pipeline_id)


@pytest.mark.parametrize("bad", ["", "../x", "a/b", ".hidden", " etl"])
def test_invalid_names_are_rejected(dirs, bad):
    with pytest.raises(InvalidNameError):
        Pipeline(bad, **dirs)
    p = Pipeline("etl", **dirs)
    with pytest.raises(InvalidNameError):
        p.stage(bad)


def test_events_in_order_with_their_fields(dirs):
    df = frame(40)
    with Pipeline("etl", **dirs) as p:
        with p.stage("extract") as s:
            assert s.state is StageState.RUNNING
            checkpoint_id = s.checkpoint(df, tickers=["AAPL"])
            s.data_quality(missing_rate=0.01)
            s.add_metadata(source="csv")
        with p.stage("transform"):
            pass
    assert s.state.name == "DONE"
    got = event_types(dirs["log_dir"], p.pipeline_id)
    assert got == [
        ("pipeline_start", None),
        ("stage_start", "extract"),
        ("checkpoint_saved", "extract"),
        ("data_quality_check", "extract"),
        ("stage_complete", "extract"),
        ("stage_start", "transform"),
        ("stage_complete", "transform"),
        ("pipeline_complete", None),
    ]
    by_type = {
        e["event_type"]: e
        for e in events(dirs["log_dir"], p.pipeline_id)
        if e.get("stage") in ("extract", None)
    }
    complete = by_type["stage_complete"]
    assert complete["status"] == "success"
    meta = complete["metadata"]
    assert meta["rows"] == 40
    assert meta["checkpoint_ids"] == [checkpoint_id]
    assert meta["source"] == "csv"
    assert meta["duration_seconds"] >= 0 and meta["cpu_seconds"] >= 0
    assert meta["process_cpu_seconds"] >= 0 and meta["peak_rss_growth_bytes"] >= 0
    assert by_type["data_quality_check"]["metadata"]["missing_rate"] == 0.01
    assert by_type["pipeline_complete"]["status"] == "success"
    assert by_type["pipeline_start"]["metadata"]["resumed"] is False
    assert re.match(r"\d{4}-\d\d-\d\dT.*[+-]\d\d:\d\d$", complete["timestamp"])
    # The checkpoint is real and verified, and the run record knows it.
    assert checkpoint_id is not None
    loaded = CheckpointManager(dirs["checkpoint_dir"]).load_checkpoint(checkpoint_id)
    pd.testing.assert_frame_equal(loaded["data"], df)
    assert loaded["state"]["metadata"]["tickers"] == ["AAPL"]
    assert record_of(p)["status"] == "complete"
    assert record_of(p)["stages"][0]["checkpoint_ids"] == [checkpoint_id]


def test_data_is_the_checkpointed_frame(dirs):
    p = Pipeline("etl", **dirs)
    with p.stage("extract") as s:
        with pytest.raises(RuntimeError, match="has no data"):
            _ = s.data
        df = frame()
        s.checkpoint(df)
        assert s.data is df
        assert s.rows == len(df)
        assert not s.restored
        assert s.reason == "new run"


class Boom(Exception):
    pass


def test_exception_propagates_unchanged_and_is_logged(dirs):
    error = Boom("bad input")
    p = Pipeline("etl", **dirs)
    with pytest.raises(Boom) as info, p, p.stage("load") as s:
        raise error
    assert info.value is error
    assert s.state is StageState.FAILED
    evs = events(dirs["log_dir"], p.pipeline_id)
    stage_error = next(e for e in evs if e["event_type"] == "stage_error")
    assert stage_error["status"] == "error"
    assert stage_error["stage"] == "load"
    assert "Boom" in json.dumps(stage_error) and "bad input" in json.dumps(stage_error)
    end = evs[-1]
    assert end["event_type"] == "pipeline_complete" and end["status"] == "error"
    assert end["metadata"]["error_type"] == "Boom"
    errors_log = (dirs["log_dir"] / "errors" / "errors.log").read_text()
    assert "Traceback" in errors_log and "bad input" in errors_log
    assert record_of(p)["status"] == "failed"
    assert record_of(p)["error"]["stage"] == "load"


def test_user_records_carry_pipeline_and_stage(dirs):
    user = logging.getLogger("myapp.extract")
    p = Pipeline("etl", **dirs)
    with p, p.stage("extract"):
        user.info("fetched %d rows", 12)
    lines = read_lines(dirs["log_dir"] / "pipeline.log")
    mine = [r for r in lines if r.get("message") == "fetched 12 rows"]
    assert len(mine) == 1
    assert mine[0]["pipeline_id"] == p.pipeline_id
    assert mine[0]["stage"] == "extract"


def test_stage_entered_twice_is_an_error(dirs):
    p = Pipeline("etl", **dirs)
    s = p.stage("a")
    with s, pytest.raises(RuntimeError, match="single-use"), s:
        pass
    with pytest.raises(RuntimeError, match="already entered"), s:
        pass
    with pytest.raises(RuntimeError, match="needs a running stage"):
        s.checkpoint(frame())


def test_nested_stages_restore_the_outer_context(dirs):
    user = logging.getLogger("myapp")
    p = Pipeline("etl", **dirs)
    with p.stage("outer"):
        with p.stage("inner") as inner:
            user.info("in inner")
        user.info("back in outer")
    assert inner.parent == "outer"
    lines = {
        r["message"]: r
        for r in read_lines(dirs["log_dir"] / "pipeline.log")
        if r.get("logger") == "myapp" or r.get("name") == "myapp"
    }
    assert lines["in inner"]["stage"] == "inner"
    assert lines["back in outer"]["stage"] == "outer"
    inner_start = next(
        e
        for e in events(dirs["log_dir"], p.pipeline_id)
        if e["event_type"] == "stage_start" and e["stage"] == "inner"
    )
    assert inner_start["metadata"]["parent_stage"] == "outer"


def test_pipeline_runs_once(dirs):
    p = Pipeline("etl", **dirs)
    with p:
        pass
    with pytest.raises(RuntimeError, match="already entered"), p:
        pass
    with pytest.raises(RuntimeError, match="has ended"), p.stage("late"):
        pass


def test_checkpoints_disabled_writes_nothing(dirs):
    df = frame()
    with Pipeline("etl", checkpoints=False, **dirs) as p, p.stage("extract") as s:
        assert s.checkpoint(df) is None
        assert s.data is df
    assert not dirs["checkpoint_dir"].exists()
    skipped = [
        e for e in events(dirs["log_dir"], p.pipeline_id) if e["event_type"] == "checkpoint_skipped"
    ]
    assert len(skipped) == 1 and skipped[0]["metadata"]["reason"] == "checkpoints disabled"


def test_logging_disabled_attaches_nothing(dirs):
    root_handlers = list(logging.getLogger().handlers)
    with Pipeline("etl", logging=False, **dirs) as p, p.stage("extract") as s:
        s.checkpoint(frame())
    assert not dirs["log_dir"].exists()
    assert logging.getLogger().handlers == root_handlers
    assert record_of(p)["status"] == "complete"


def test_cleanup_at_the_end_removes_old_checkpoints_and_runs(dirs, tmp_path):
    old = Pipeline("etl", **dirs)
    with old, old.stage("a") as s:
        s.checkpoint(frame())
    manager = CheckpointManager(dirs["checkpoint_dir"])
    assert len(manager.list_checkpoints(old.pipeline_id)) == 1
    new = Pipeline("etl", retention_days=0, **dirs)
    with new:
        pass
    assert manager.list_checkpoints(old.pipeline_id) == []
    assert list((dirs["checkpoint_dir"] / "runs").glob(f"{old.pipeline_id}*")) == []


def test_cleanup_disabled_keeps_everything(dirs):
    old = Pipeline("etl", **dirs)
    with old, old.stage("a") as s:
        s.checkpoint(frame())
    with Pipeline("etl", retention_days=0, cleanup=False, **dirs):
        pass
    assert len(CheckpointManager(dirs["checkpoint_dir"]).list_checkpoints(old.pipeline_id)) == 1


def test_separate_stage_logs(dirs):
    user = logging.getLogger("myapp")
    p = Pipeline("etl", stage_logs=True, **dirs)
    again = Pipeline("etl", stage_logs=True, **dirs)  # attaching twice does not duplicate
    with p:
        with p.stage("extract"):
            user.info("extracting")
        with again.stage("load"):
            user.info("loading")
        user.info("between stages")
    stages = dirs["log_dir"] / "stages"
    extract = [r for r in read_lines(stages / "extract.log") if r["message"] == "extracting"]
    load = [r for r in read_lines(stages / "load.log") if r["message"] == "loading"]
    assert len(extract) == 1 and len(load) == 1
    assert extract[0]["pipeline_id"] == p.pipeline_id
    assert load[0]["pipeline_id"] == again.pipeline_id
    assert "between stages" not in (stages / "extract.log").read_text()


def test_cleanup_failure_is_logged_never_raised(dirs):
    events_logger = PipelineLogger(dirs["log_dir"])
    try:
        # A negative retention makes the store's cleanup raise ValueError.
        with Pipeline("etl", logging=events_logger, retention_days=-1, **dirs) as p:
            pass
    finally:
        events_logger.close()
    failed = [
        e for e in events(dirs["log_dir"], p.pipeline_id) if e["event_type"] == "cleanup_error"
    ]
    assert [e["metadata"]["part"] for e in failed] == ["checkpoints"]
    assert failed[0]["metadata"]["error_type"] == "ValueError"
    assert record_of(p)["status"] == "complete"


def test_async_pipeline_error_propagates_unchanged(dirs):
    import asyncio

    error = Boom("async failure")
    p = Pipeline("etl", **dirs)

    async def main():
        async with p, p.stage("fetch"):
            await asyncio.sleep(0)
            raise error

    with pytest.raises(Boom) as info:
        asyncio.run(main())
    assert info.value is error
    got = event_types(dirs["log_dir"], p.pipeline_id)
    assert got[-2:] == [("stage_error", "fetch"), ("pipeline_complete", None)]
