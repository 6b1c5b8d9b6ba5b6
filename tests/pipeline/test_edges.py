"""Edges of the pipeline layer: foreign checkpoints, bad run records, names, bad input."""

from __future__ import annotations

import json
import logging

import pytest

from checkpointing import InvalidNameError, Pipeline, RunRecordError
from tests.pipeline._helpers import events, frame, record_of


@pytest.fixture
def dirs(tmp_path):
    return {"checkpoint_dir": tmp_path / "ckpt", "log_dir": tmp_path / "logs"}


def _record_path(dirs, pipeline_id):
    return dirs["checkpoint_dir"] / "runs" / f"{pipeline_id}.json"


def _failed_run(dirs, name="etl") -> Pipeline:
    p = Pipeline(name, **dirs)
    with pytest.raises(RuntimeError), p:
        with p.stage("extract") as s:
            s.checkpoint(frame(10, seed=1))
        with p.stage("load"):
            raise RuntimeError("database is down")
    return p


# -- restore checks whose checkpoint it loads (issue: an edited record restores another's) ----


def test_a_record_pointing_at_another_pipelines_checkpoint_is_not_restored(dirs):
    other = _failed_run(dirs, name="other")
    mine = _failed_run(dirs)
    foreign = record_of(other)["stages"][0]["checkpoint_ids"][0]
    path = _record_path(dirs, mine.pipeline_id)
    record = json.loads(path.read_text())
    record["stages"][0]["checkpoint_ids"] = [foreign]
    path.write_text(json.dumps(record))

    p = Pipeline("etl", resume=True, **dirs)
    with p, p.stage("extract") as s:
        assert not s.restored
        assert "belongs to pipeline" in s.reason
        s.checkpoint(frame(10, seed=2))
    [rerun] = [
        e for e in events(dirs["log_dir"], p.pipeline_id) if e["event_type"] == "stage_rerun"
    ]
    assert foreign in rerun["metadata"]["reason"]


def test_a_record_pointing_at_another_stages_checkpoint_is_not_restored(dirs):
    p = Pipeline("etl", **dirs)
    with pytest.raises(RuntimeError), p:
        with p.stage("extract") as s:
            s.checkpoint(frame(10, seed=1))
        with p.stage("transform") as s:
            s.checkpoint(frame(5, seed=3))
        with p.stage("load"):
            raise RuntimeError("down")
    path = _record_path(dirs, p.pipeline_id)
    record = json.loads(path.read_text())
    record["stages"][0]["checkpoint_ids"] = record["stages"][1]["checkpoint_ids"]
    path.write_text(json.dumps(record))
    again = Pipeline("etl", resume=True, **dirs)
    with again, again.stage("extract") as s:
        assert not s.restored
        assert "stage 'transform'" in s.reason
        s.checkpoint(frame(10, seed=1))


# -- run records are validated as strictly as manifests --------------------------------------


@pytest.mark.parametrize(
    "damage",
    [
        lambda r: r.update(stages=None),
        lambda r: r.update(pid=None),
        lambda r: r.update(attempts="2"),
        lambda r: r.update(status="sleeping"),
        lambda r: r["stages"].append({"stage": "x", "checkpoint_ids": [1]}),
        "truncated",
        "not json",
    ],
    ids=["stages-null", "pid-null", "attempts-str", "status", "ids-int", "truncated", "text"],
)
def test_a_bad_run_record_is_skipped_with_a_warning_naming_it(dirs, damage, caplog):
    bad = _failed_run(dirs)
    path = _record_path(dirs, bad.pipeline_id)
    text = path.read_text()
    if damage == "truncated":
        path.write_text(text[: len(text) // 2])
    elif damage == "not json":
        path.write_text("NaN")
    else:
        record = json.loads(text)
        damage(record)
        path.write_text(json.dumps(record))
    with caplog.at_level(logging.WARNING, logger="checkpointing.pipeline"):
        p = Pipeline("etl", resume=True, **dirs)
    assert not p.resumed
    assert any(str(path) in r.getMessage() for r in caplog.records)
    with pytest.raises(RunRecordError) as info:
        Pipeline("etl", pipeline_id=bad.pipeline_id, **dirs)
    assert info.value.path == str(path)


# -- names are checked up front, in the constructor ------------------------------------------


@pytest.mark.parametrize("name", ["n" * 160, "é" * 100, "bad\udcffname"])
def test_unusable_pipeline_names_fail_in_the_constructor(dirs, name):
    with pytest.raises(InvalidNameError):
        Pipeline(name, **dirs)


def test_a_stage_name_too_long_for_its_pipeline_fails_before_the_stage_runs(dirs):
    p = Pipeline("e" * 100, **dirs)
    with pytest.raises(InvalidNameError, match="too long"):
        p.stage("s" * 100)
    with p, p.stage("s" * 20) as s:  # a shorter one fits
        s.checkpoint(frame(3))


def test_a_lone_surrogate_stage_name_is_refused_and_the_run_ends_cleanly(dirs):
    p = Pipeline("etl", **dirs)
    with p, pytest.raises(InvalidNameError):
        p.stage("bad\ud800")
    assert record_of(p)["status"] == "complete"


# -- the same validation whether checkpoints are on or off -----------------------------------


@pytest.mark.parametrize("checkpoints", [True, False])
@pytest.mark.parametrize("data", ["hello", None, [1, 2], {"a": [1]}])
def test_checkpoint_refuses_what_is_not_a_frame_in_both_modes(dirs, checkpoints, data):
    p = Pipeline("etl", checkpoints=checkpoints, **dirs)
    with pytest.raises(TypeError, match="DataFrame"), p, p.stage("extract") as s:
        s.checkpoint(data)


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("cannot print me")


def test_an_exception_whose_str_raises_propagates_unchanged(dirs):
    p = Pipeline("etl", **dirs)
    error = _Unprintable()
    with pytest.raises(_Unprintable) as info, p, p.stage("extract"):
        raise error
    assert info.value is error
    assert record_of(p)["status"] == "failed"
    assert record_of(p)["error"]["type"] == "_Unprintable"
    types = [e["event_type"] for e in events(dirs["log_dir"], p.pipeline_id)]
    assert "stage_error" in types and types[-1] == "pipeline_complete"


def test_a_checkpoint_that_cannot_be_decoded_makes_the_stage_rerun(dirs):
    import pyarrow.parquet as pq

    from tests.checkpointing.test_codec import rewrite_checksums

    first = _failed_run(dirs)
    [checkpoint_id] = record_of(first)["stages"][0]["checkpoint_ids"]
    path = dirs["checkpoint_dir"] / f"{checkpoint_id}.parquet"
    table = pq.read_table(path)
    meta = dict(table.schema.metadata)
    ours = json.loads(meta[b"stagepoint"])
    ours["columns"] = {name: {} for name in ours["columns"]}  # a description no codec applies
    meta[b"stagepoint"] = json.dumps(ours).encode()
    pq.write_table(table.replace_schema_metadata(meta), path)
    rewrite_checksums(first.manager, checkpoint_id)

    p = Pipeline("etl", resume=True, **dirs)
    with p, p.stage("extract") as s:
        assert not s.restored
        assert "cannot be decoded" in s.reason
        s.checkpoint(frame(10, seed=1))
