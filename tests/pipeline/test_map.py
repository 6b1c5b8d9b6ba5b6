"""``Pipeline.map`` on every executor: in-process, a spawn process pool and a Dask cluster.

Every test runs real processes for the pool and Dask variants (see conftest.py); the item
functions are in ``_map_fns`` so that worker processes can import them.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from checkpointing import (
    CheckpointManager,
    ItemNotFoundError,
    MapError,
    Pipeline,
    StageIdentityError,
)
from tests.pipeline import _map_fns as fns
from tests.pipeline._helpers import events, read_lines, record_of

KEYS = ["msft", "aapl", "goog", "amzn", "nvda"]


def _pipeline(tmp_path: Path, **options: Any) -> Pipeline:
    return Pipeline("fan", checkpoint_dir=tmp_path / "ckpt", log_dir=tmp_path / "logs", **options)


def _manifest_pids(tmp_path: Path, ids: list[str]) -> set[int]:
    manager = CheckpointManager(tmp_path / "ckpt")
    return {int(manager.get_state(i)["pid"]) for i in ids}


def test_results_come_back_in_the_order_of_the_items(tmp_path, executor) -> None:
    with _pipeline(tmp_path) as p:
        frames = p.map(
            "fetch", functools.partial(fns.fetch, str(tmp_path)), KEYS, executor=executor
        )
    assert [f["key"].iloc[0] for f in frames] == KEYS
    pd.testing.assert_frame_equal(frames[2], fns.frame_of("goog"))
    assert fns.calls(tmp_path) == dict.fromkeys(KEYS, 1)


def test_the_checkpoints_are_written_by_the_worker_processes(tmp_path, executor) -> None:
    with _pipeline(tmp_path) as p:
        ids = p.map(
            "fetch", functools.partial(fns.fetch, str(tmp_path)), KEYS, executor=executor,
            collect=False,
        )  # fmt: skip
        entries = record_of(p)["stages"]
    assert len(set(ids)) == len(KEYS)
    pids = _manifest_pids(tmp_path, ids)
    if executor is None:
        assert pids == {os.getpid()}
    else:
        assert os.getpid() not in pids
    assert [(e["stage"], e["key"], e["checkpoint_ids"]) for e in entries] == sorted(
        zip(["fetch"] * len(KEYS), KEYS, [[i] for i in ids], strict=True),
        key=lambda entry: [e["key"] for e in entries].index(entry[1]),
    )


def test_every_items_events_and_records_reach_the_drivers_logs(tmp_path, executor) -> None:
    with _pipeline(tmp_path) as p:
        ids = p.map(
            "fetch", functools.partial(fns.fetch, str(tmp_path)), KEYS, executor=executor,
            collect=False,
        )  # fmt: skip
        pipeline_id = p.pipeline_id
    found = events(tmp_path / "logs", pipeline_id)
    per_key = {
        key: [e["event_type"] for e in found if e["metadata"].get("key") == key] for key in KEYS
    }
    assert per_key == {k: ["stage_start", "checkpoint_saved", "stage_complete"] for k in KEYS}
    complete = {e["metadata"]["key"]: e for e in found if e["event_type"] == "stage_complete"}
    assert {k: e["metadata"]["checkpoint_ids"] for k, e in complete.items()} == {
        k: [i] for k, i in zip(KEYS, ids, strict=True)
    }
    (summary,) = [e for e in found if e["event_type"] == "map_complete"]
    assert summary["status"] == "success"
    assert {k: summary["metadata"][k] for k in ("items", "done", "restored", "failed", "rows")} == {
        "items": 5, "done": 5, "restored": 0, "failed": 0, "rows": 15,
    }  # fmt: skip
    records = [
        r for r in read_lines(tmp_path / "logs" / "pipeline.log") if r.get("logger") == "tests.map"
    ]
    assert sorted(r["key"] for r in records) == sorted(KEYS)
    for record in records:
        assert record["pipeline_id"] == pipeline_id
        assert record["stage"] == "fetch"
        assert record["message"] == f"fetching {record['key']}"
        assert record["detail"] == {"pid": record["process"]}  # an extra survives the trip
    assert {r["process"] for r in records} == _manifest_pids(tmp_path, ids)


def test_a_failed_item_fails_the_map_and_resume_reruns_only_it(tmp_path, executor) -> None:
    keys = ["aapl", "bad1", "msft"]
    fn = functools.partial(fns.fetch, str(tmp_path))
    p = _pipeline(tmp_path)
    with pytest.raises(MapError) as caught, p:
        p.map("fetch", fn, keys, executor=executor)
    assert caught.value.failed == ("bad1",)
    assert caught.value.not_run == ()
    assert isinstance(caught.value.__cause__, ValueError)
    assert "no data for bad1" in str(caught.value.__cause__)
    assert record_of(p)["status"] == "failed"
    assert {e["key"] for e in record_of(p)["stages"]} == {"aapl", "msft"}
    errors = [e for e in events(tmp_path / "logs") if e["event_type"] == "stage_error"]
    assert [(e["stage"], e["metadata"]["key"]) for e in errors] == [("fetch", "bad1")]

    (tmp_path / "fixed").touch()
    with _pipeline(tmp_path, resume=True) as again:
        assert again.pipeline_id == p.pipeline_id
        frames = again.map("fetch", fn, keys, executor=executor)
    assert [f["key"].iloc[0] for f in frames] == keys
    assert fns.calls(tmp_path) == {"aapl": 1, "bad1": 2, "msft": 1}
    resumed = events(tmp_path / "logs", p.pipeline_id)
    restored = [e["metadata"]["key"] for e in resumed if e["event_type"] == "stage_restored"]
    assert sorted(restored) == ["aapl", "msft"]
    assert record_of(again)["status"] == "complete"


def test_duplicate_keys_are_refused_before_anything_runs(tmp_path, executor) -> None:
    with _pipeline(tmp_path) as p, pytest.raises(StageIdentityError, match="'aapl'"):
        p.map("fetch", functools.partial(fns.fetch, str(tmp_path)), ["aapl", "msft", "aapl"],
              executor=executor)  # fmt: skip
    assert fns.calls(tmp_path) == {}


def test_collect_false_returns_ids_and_load_loads_one_item(tmp_path, executor) -> None:
    with _pipeline(tmp_path) as p:
        ids = p.map("fetch", functools.partial(fns.fetch, str(tmp_path)), KEYS,
                    executor=executor, collect=False)  # fmt: skip
        loaded = p.load("fetch", "goog")
        with pytest.raises(ItemNotFoundError, match="'tsla'"):
            p.load("fetch", "tsla")
    assert all(isinstance(i, str) for i in ids)
    pd.testing.assert_frame_equal(loaded, fns.frame_of("goog"))


def test_a_function_that_returns_no_frame_fails_its_items(tmp_path, executor) -> None:
    with _pipeline(tmp_path) as p, pytest.raises(MapError) as caught:
        p.map("fetch", functools.partial(fns.not_a_frame, str(tmp_path)), ["a", "b"],
              executor=executor)  # fmt: skip
    assert caught.value.failed == ("a", "b")
    assert "returned list, not a DataFrame" in str(caught.value.__cause__)


def test_resume_reruns_an_item_whose_committed_checkpoint_is_gone(tmp_path) -> None:
    fn = functools.partial(fns.fetch, str(tmp_path))
    p = _pipeline(tmp_path)
    with pytest.raises(MapError), p:
        p.map("fetch", fn, ["a", "b", "bad"], collect=False)
    entries = {e["key"]: e["checkpoint_ids"][0] for e in record_of(p)["stages"]}
    assert CheckpointManager(tmp_path / "ckpt").delete_checkpoint(entries["b"])
    (tmp_path / "fixed").touch()
    with _pipeline(tmp_path, resume=True) as again:
        ids = again.map("fetch", fn, ["a", "b", "bad"], collect=False)
        assert again.load("fetch", "b")["key"].tolist() == ["b"] * 3
    assert ids[0] == entries["a"] and ids[1] != entries["b"]
    assert fns.calls(tmp_path) == {"a": 1, "b": 2, "bad": 2}
    reruns = [e for e in events(tmp_path / "logs") if e["event_type"] == "stage_rerun"]
    assert {e["metadata"]["key"]: e["metadata"]["reason"] for e in reruns} == {
        "b": f"checkpoint {entries['b']} not found",
        "bad": "no checkpoint",
    }


@pytest.mark.parametrize("option", [{"rerun": ["fetch"]}, {"rerun_from": "fetch"}])
def test_a_rerun_requested_in_a_resumed_run_runs_its_committed_items_again(
    tmp_path, option
) -> None:
    fn = functools.partial(fns.fetch, str(tmp_path))
    p = _pipeline(tmp_path)
    with pytest.raises(MapError), p:
        p.map("fetch", fn, ["a", "bad"], collect=False)
    (first,) = [e["checkpoint_ids"][0] for e in record_of(p)["stages"] if e["key"] == "a"]
    (tmp_path / "fixed").touch()
    with _pipeline(tmp_path, resume=True, **option) as again:
        ids = again.map("fetch", fn, ["a", "bad"], collect=False)
    assert ids[0] != first  # not the earlier attempt's commit
    assert fns.calls(tmp_path) == {"a": 2, "bad": 2}


def test_with_checkpoints_disabled_items_run_and_nothing_is_saved(tmp_path) -> None:
    fn = functools.partial(fns.fetch, str(tmp_path))
    with _pipeline(tmp_path, checkpoints=False) as p:
        frames = p.map("fetch", fn, ["a", "b"])
        assert p.map("fetch", fn, []) == []
        with pytest.raises(ValueError, match="checkpoints are disabled"):
            p.map("other", fn, ["a"], collect=False)
    assert [f["key"].iloc[0] for f in frames] == ["a", "b"]
    assert not (tmp_path / "ckpt").exists()
    kinds = [e["event_type"] for e in events(tmp_path / "logs") if e["metadata"].get("key") == "a"]
    assert kinds == ["stage_start", "stage_complete"]


def test_cache_restores_items_of_an_earlier_run_and_reruns_only_changed_ones(
    tmp_path, executor
) -> None:
    fn = functools.partial(fns.fetch, str(tmp_path))
    with _pipeline(tmp_path) as first:
        first.map("fetch", fn, ["a", "b", "c"], executor=executor, cache=True)
    with _pipeline(tmp_path) as second:  # a new run, not a resume
        frames = second.map("fetch", fn, ["a", "b", "c", "d"], cache=True)
        loaded = second.load("fetch", "b")
        entries = {e["key"]: e for e in record_of(second)["stages"]}
    assert [f["key"].iloc[0] for f in frames] == ["a", "b", "c", "d"]
    pd.testing.assert_frame_equal(loaded, fns.frame_of("b"))
    assert fns.calls(tmp_path) == {"a": 1, "b": 1, "c": 1, "d": 1}
    assert entries["a"]["checkpoint_ids"] == [] and entries["a"]["cached_from"]
    assert len(entries["d"]["checkpoint_ids"]) == 1
    found = events(tmp_path / "logs", second.pipeline_id)
    hits = [e for e in found if e["event_type"] == "stage_restored"]
    assert sorted(e["metadata"]["key"] for e in hits) == ["a", "b", "c"]
    assert all(e["metadata"]["cached_run"] == first.pipeline_id for e in hits)
    (rerun,) = [e for e in found if e["event_type"] == "stage_rerun"]
    assert rerun["metadata"]["key"] == "d"
    assert rerun["metadata"]["reason"].startswith("cache miss: no earlier result")

    edited = functools.partial(fns.fetch, str(tmp_path / "elsewhere"))  # other code: a miss
    with _pipeline(tmp_path, rerun=["other"]) as third:
        third.map("fetch", edited, ["a"], cache=True)
    found = events(tmp_path / "logs", third.pipeline_id)
    (miss,) = [e for e in found if e["event_type"] == "stage_rerun"]
    assert miss["metadata"]["reason"].startswith("cache miss: code changed")
    assert fns.calls(tmp_path / "elsewhere") == {"a": 1}


def test_a_forced_rerun_runs_every_item_and_replaces_the_cached_results(tmp_path) -> None:
    fn = functools.partial(fns.fetch, str(tmp_path))
    with _pipeline(tmp_path) as first:
        first.map("fetch", fn, ["a", "b"], cache=True)
    with _pipeline(tmp_path, rerun=["fetch"]) as forced:
        ids = forced.map("fetch", fn, ["a", "b"], cache=True, collect=False)
    with _pipeline(tmp_path) as third:
        reused = third.map("fetch", fn, ["a", "b"], cache=True, collect=False)
    assert fns.calls(tmp_path) == {"a": 2, "b": 2}
    assert reused == ids  # the forced run's results are the cached ones now


def test_a_resumed_run_with_other_code_reruns_the_items_it_had_committed(tmp_path) -> None:
    fn = functools.partial(fns.fetch, str(tmp_path))
    p = _pipeline(tmp_path)
    with pytest.raises(MapError), p:
        p.map("fetch", fn, ["a", "bad"], cache=True)
    edited = functools.partial(fns.fetch, str(tmp_path / "edited"))
    (tmp_path / "edited").mkdir()
    (tmp_path / "edited" / "fixed").touch()
    with _pipeline(tmp_path, resume=True) as again:
        frames = again.map("fetch", edited, ["a", "bad"], cache=True)
    assert [f["key"].iloc[0] for f in frames] == ["a", "bad"]
    assert fns.calls(tmp_path / "edited") == {"a": 1, "bad": 1}  # a's old result was stale
    reruns = [e for e in events(tmp_path / "logs") if e["event_type"] == "stage_rerun"]
    last = [e["metadata"]["reason"] for e in reruns if e["metadata"]["key"] == "a"][-1]
    assert last.startswith("code changed")


def test_close_records_a_failed_fan_out_as_a_failed_run(tmp_path) -> None:
    fn = functools.partial(fns.fetch, str(tmp_path))
    p = _pipeline(tmp_path)  # driven without ``with pipeline:``, as close() documents
    with pytest.raises(MapError):
        p.map("fetch", fn, ["a", "bad"])
    p.close()
    assert record_of(p)["status"] == "failed"
    assert record_of(p)["error"]["stage"] == "fetch"
