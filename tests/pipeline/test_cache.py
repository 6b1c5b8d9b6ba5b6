"""The cross-run cache and fingerprints on resume, through the public API.

Every miss says why; a hit says which run it came from; nothing the index says is trusted over
the checkpoint it points at.
"""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pandas as pd
import pytest

from checkpointing import FingerprintError, Pipeline, get_run, invalidate_cache
from tests.pipeline._helpers import events, frame, record_of


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    return {"checkpoint_dir": tmp_path / "ckpt", "log_dir": tmp_path / "logs"}


def run_once(dirs, inputs, *, version=None, result=None, name="etl", **options):
    """One run of a one-stage pipeline; returns (stage, whether the block computed)."""
    computed = []
    p = Pipeline(name, **dirs, **options)
    with p, p.stage("clean", inputs=inputs, version=version, cache=True) as s:
        if not s.restored:
            computed.append(True)
            s.checkpoint(result if result is not None else frame(10))
    return s, bool(computed)


def cache_files(dirs, name="etl") -> list[Path]:
    return sorted((dirs["checkpoint_dir"] / "cache" / name).glob("*.json"))


# -- hits ---------------------------------------------------------------------------------------


def test_a_second_run_with_the_same_inputs_restores_from_the_first(dirs) -> None:
    first, computed = run_once(dirs, {"prices": frame(50), "window": 5})
    assert computed
    assert first.reason == "cache miss: no earlier result"
    second, computed = run_once(dirs, {"window": 5, "prices": frame(50)})
    assert not computed
    assert second.restored
    assert second.restored_from == first.checkpoint_ids[0]
    first_run = first.checkpoint_ids[0].split("_clean_")[0]
    assert second.reason == (
        f"cache hit: fingerprint {first.fingerprint[:12]} matches checkpoint "
        f"{first.checkpoint_ids[0]} of run {first_run}"
    )
    pd.testing.assert_frame_equal(second.data, frame(10))
    restored = [e for e in events(dirs["log_dir"]) if e["event_type"] == "stage_restored"]
    assert restored[-1]["metadata"]["cache_hit"] is True
    assert restored[-1]["metadata"]["cached_run"] in second.reason


def test_a_cache_hit_is_recorded_in_the_run_record(dirs) -> None:
    run_once(dirs, {"n": 1})
    p = Pipeline("etl", **dirs)
    with p, p.stage("clean", inputs={"n": 1}, cache=True) as s:
        assert s.restored
    (entry,) = record_of(p)["stages"]
    assert entry["cached_from"] == s.restored_from
    assert entry["fingerprint"] == s.fingerprint
    assert entry["checkpoint_ids"] == []
    (execution,) = get_run(p.pipeline_id, **dirs).attempts[0].executions
    assert (execution.status, execution.restored_from) == ("cached", s.restored_from)
    assert str(execution.reason).startswith("cache hit")


def test_a_frame_restored_from_the_cache_passes_its_identity_on(dirs) -> None:
    """Downstream stages of a cached stage hit too: the restored frame is the same input."""

    def run() -> list[bool]:
        computed = []
        p = Pipeline("etl", **dirs)
        with p:
            with p.stage("extract", inputs={"day": "2024-06-03"}, cache=True) as s:
                if not s.restored:
                    computed.append(True)
                    s.checkpoint(frame(100))
                raw = s.data
            with p.stage("transform", inputs=(raw,), cache=True) as s:
                if not s.restored:
                    computed.append(True)
                    s.checkpoint(raw.assign(close=raw["close"] * 2))
        return computed

    assert run() == [True, True]
    assert run() == []


# -- misses -------------------------------------------------------------------------------------


def test_a_change_is_a_miss_that_says_what_changed(dirs) -> None:
    run_once(dirs, [frame(50), {"window": 5}])
    s, computed = run_once(dirs, [frame(50).rename(columns={"close": "price"}), {"window": 5}])
    assert computed
    assert s.reason == "cache miss: inputs changed: frame 0 schema"
    s, computed = run_once(dirs, [frame(50), {"window": 6}])
    assert computed  # compared with the last result, the renamed one
    assert s.reason == "cache miss: inputs changed: frame 0 schema, parameter 1"


def test_a_new_version_is_a_miss(dirs) -> None:
    run_once(dirs, {"n": 1}, version="1")
    s, computed = run_once(dirs, {"n": 1}, version="2")
    assert computed
    assert s.reason == "cache miss: version changed: '1' -> '2'"
    s, computed = run_once(dirs, {"n": 1}, version="1")
    assert not computed  # the result of version 1 is still there


def test_other_pipeline_names_never_share_results(dirs) -> None:
    run_once(dirs, {"n": 1}, name="etl")
    _, computed = run_once(dirs, {"n": 1}, name="other")
    assert computed


def test_a_cached_checkpoint_that_fails_verification_is_a_miss_not_an_error(dirs) -> None:
    first, _ = run_once(dirs, {"n": 1})
    data = dirs["checkpoint_dir"] / f"{first.checkpoint_ids[0]}.parquet"
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    data.write_bytes(bytes(raw))
    second, computed = run_once(dirs, {"n": 1})
    assert computed
    assert second.reason.startswith(f"cache miss: cached checkpoint {first.checkpoint_ids[0]}")
    assert "checksum mismatch" in second.reason or "unreadable" in second.reason
    rerun = [e for e in events(dirs["log_dir"]) if e["event_type"] == "stage_rerun"]
    assert rerun[-1]["status"] == "warning"
    third, computed = run_once(dirs, {"n": 1})  # the entry now points at the good result
    assert not computed
    assert third.restored_from == second.checkpoint_ids[0]


@pytest.mark.parametrize("damage", ["deleted checkpoint", "garbage entry", "other stage"])
def test_an_entry_the_checkpoints_do_not_back_is_a_miss(dirs, damage) -> None:
    first, _ = run_once(dirs, {"n": 1})
    (entry_file,) = cache_files(dirs)
    if damage == "deleted checkpoint":
        Pipeline("etl", **dirs, logging=False).manager.delete_checkpoint(first.checkpoint_ids[0])  # type: ignore[union-attr]
    elif damage == "garbage entry":
        entry_file.write_text("{not json")
    else:
        p = Pipeline("etl", **dirs, logging=False)
        with p, p.stage("other") as s:
            other = s.checkpoint(frame(3))
        entry = json.loads(entry_file.read_text()) | {"checkpoint_id": other}
        entry_file.write_text(json.dumps(entry))
    second, computed = run_once(dirs, {"n": 1})
    assert computed and not second.restored
    assert second.reason.startswith("cache miss:")


def test_invalidate_marks_results_stale_and_keeps_the_checkpoints(dirs) -> None:
    first, _ = run_once(dirs, {"n": 1})
    assert invalidate_cache("etl", "other_stage", checkpoint_dir=dirs["checkpoint_dir"]) == 0
    assert invalidate_cache("etl", "clean", checkpoint_dir=dirs["checkpoint_dir"]) == 1
    second, computed = run_once(dirs, {"n": 1})
    assert computed
    assert second.reason == "cache miss: the cached result was invalidated or deleted"
    manager = Pipeline("etl", **dirs, logging=False).manager
    assert manager is not None
    manager.load_checkpoint(first.checkpoint_ids[0])  # still there, still loadable
    _, computed = run_once(dirs, {"n": 1})
    assert not computed


def test_without_a_store_cache_is_ignored(dirs) -> None:
    p = Pipeline("etl", checkpoints=False, log_dir=dirs["log_dir"])
    with p, p.stage("clean", inputs={"n": 1}, cache=True) as s:
        assert not s.restored
        s.checkpoint(frame(3))
    assert s.fingerprint is not None


def test_an_input_that_cannot_be_hashed_fails_the_stage_clearly(dirs) -> None:
    p = Pipeline("etl", **dirs)
    with (
        pytest.raises(FingerprintError, match="'conn'"),
        p,
        p.stage("clean", inputs={"conn": object()}, cache=True),
    ):
        pass  # pragma: no cover - never entered
    kinds = [(e["event_type"], e["stage"]) for e in events(dirs["log_dir"], p.pipeline_id)]
    assert ("stage_start", "clean") in kinds
    errors = [e for e in events(dirs["log_dir"]) if e["event_type"] == "stage_error"]
    assert errors[-1]["metadata"]["error_type"] == "FingerprintError"


# -- resume and forced reruns -------------------------------------------------------------------


def _two_stage_run(dirs, raw, *, fail, **options) -> tuple[Pipeline, dict[str, str]]:
    reasons = {}
    p = Pipeline("etl", **dirs, **options)
    with p:
        with p.stage("extract", inputs=(raw,)) as s:
            if not s.restored:
                s.checkpoint(raw)
            reasons["extract"] = s.reason
        with p.stage("load") as s:
            reasons["load"] = s.reason
            if fail:
                raise ConnectionError("warehouse unreachable")
    return p, reasons


def test_resume_reruns_a_stage_whose_inputs_changed_and_says_what_changed(dirs) -> None:
    with pytest.raises(ConnectionError):
        _two_stage_run(dirs, frame(10), fail=True)
    changed = frame(10).astype({"volume": "int32"})
    p, reasons = _two_stage_run(dirs, changed, fail=False, resume=True)
    assert p.resumed
    assert reasons["extract"] == "inputs changed: frame 0 schema"
    rerun = [e for e in events(dirs["log_dir"], p.pipeline_id) if e["event_type"] == "stage_rerun"]
    assert rerun[0]["metadata"]["reason"] == "inputs changed: frame 0 schema"


def test_resume_restores_a_stage_whose_fingerprint_still_matches(dirs) -> None:
    with pytest.raises(ConnectionError):
        _two_stage_run(dirs, frame(10), fail=True)
    _, reasons = _two_stage_run(dirs, frame(10), fail=False, resume=True)
    assert reasons["extract"].startswith("restored from checkpoint")


def test_rerun_reruns_a_restorable_stage(dirs) -> None:
    with pytest.raises(ConnectionError):
        _two_stage_run(dirs, frame(10), fail=True)
    _, reasons = _two_stage_run(dirs, frame(10), fail=False, resume=True, rerun={"extract"})
    assert reasons["extract"] == "rerun requested (rerun includes 'extract')"


def test_rerun_from_reruns_that_stage_and_every_later_one(dirs) -> None:
    def run(**options) -> dict[str, bool]:
        computed = {}
        p = Pipeline("etl", **dirs, **options)
        with p:
            for name in ("a", "b", "c"):
                with p.stage(name, inputs={"stage": name}, cache=True) as s:
                    computed[name] = not s.restored
                    if not s.restored:
                        s.checkpoint(frame(5, seed=len(name)))
        return computed

    assert run() == {"a": True, "b": True, "c": True}
    assert run() == {"a": False, "b": False, "c": False}
    assert run(rerun_from="b") == {"a": False, "b": True, "c": True}
    assert run(rerun={"a"}) == {"a": True, "b": False, "c": False}
    with pytest.raises(TypeError):
        Pipeline("etl", **dirs, rerun="a")


def test_a_forced_rerun_replaces_the_cached_result(dirs) -> None:
    first, _ = run_once(dirs, {"n": 1}, result=frame(3))
    p = Pipeline("etl", **dirs, rerun={"clean"})
    with p, p.stage("clean", inputs={"n": 1}, cache=True) as s:
        assert not s.restored
        s.checkpoint(frame(4))
    again, computed = run_once(dirs, {"n": 1})
    assert not computed
    assert again.restored_from == s.checkpoint_ids[0] != first.checkpoint_ids[0]


# -- steps --------------------------------------------------------------------------------------


FACTOR = 2.0


def clean_prices(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(close=df["close"] * FACTOR)


def test_a_cached_step_skips_the_call_and_reruns_when_a_helper_changes(dirs) -> None:
    global FACTOR  # noqa: PLW0603 - the module constant the step's helper reads

    def run() -> tuple[pd.DataFrame, str]:
        p = Pipeline("etl", **dirs)
        with p:

            @p.step(cache=True)
            def prepare(df: pd.DataFrame, *, window: int = 3) -> pd.DataFrame:
                return clean_prices(df).head(window)

            out = prepare(frame(20))
        stage_events = [
            e for e in events(dirs["log_dir"], p.pipeline_id) if e["stage"] == "prepare"
        ]
        done = next(e for e in stage_events if e["event_type"] == "stage_complete")
        return out, done["metadata"].get("reason", "")

    first, reason = run()
    assert reason == "cache miss: no earlier result"
    second, reason = run()
    assert reason.startswith("cache hit")  # the function was not called
    pd.testing.assert_frame_equal(first, second)
    FACTOR = 3.0
    try:
        third, reason = run()
    finally:
        FACTOR = 2.0
    assert reason == "cache miss: code changed: helper clean_prices > global FACTOR"
    assert (third["close"] == first["close"] * 1.5).all()


def test_cleanup_forgets_entries_whose_checkpoint_is_gone(dirs) -> None:
    first, _ = run_once(dirs, {"n": 1})
    p = Pipeline("etl", **dirs, logging=False)
    assert p.manager is not None
    p.manager.delete_checkpoint(first.checkpoint_ids[0])
    assert p.cleanup()["cache"] == 1
    assert cache_files(dirs) == []


# -- processes racing ---------------------------------------------------------------------------


def _racer(checkpoint_dir: str, barrier, results) -> None:
    p = Pipeline("etl", checkpoint_dir=checkpoint_dir, logging=False)
    with p, p.stage("clean", inputs={"n": 1}, cache=True) as s:
        assert not s.restored
        barrier.wait(timeout=60)  # both looked the key up and missed before either fills it
        checkpoint_id = s.checkpoint(frame(30))
        assert checkpoint_id is not None
    pd.testing.assert_frame_equal(s.data, frame(30))
    results.put(checkpoint_id)


@pytest.mark.parametrize("round_", range(3))
def test_two_processes_racing_to_fill_one_key_keep_one_result_and_both_finish(
    tmp_path: Path, round_: int
) -> None:
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    checkpoint_dir = str(tmp_path / f"ckpt{round_}")
    racers = [context.Process(target=_racer, args=(checkpoint_dir, barrier, results)) for _ in "ab"]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(timeout=120)
        assert racer.exitcode == 0
    saved = {results.get(timeout=10), results.get(timeout=10)}
    assert len(saved) == 2  # both runs saved their own checkpoint
    (entry_file,) = (Path(checkpoint_dir) / "cache" / "etl").glob("*.json")
    kept = json.loads(entry_file.read_text())["checkpoint_id"]
    assert kept in saved
    s, computed = run_once(
        {"checkpoint_dir": Path(checkpoint_dir), "log_dir": tmp_path / "l"}, {"n": 1}
    )
    assert not computed
    assert s.restored_from == kept


@pytest.mark.parametrize(
    "options", [{"version": 2}, {"cache": "yes"}, {"cache_key": 5}], ids=["version", "cache", "key"]
)
def test_options_of_the_wrong_type_are_refused_up_front(dirs, options) -> None:
    p = Pipeline("etl", **dirs)
    with pytest.raises(TypeError):
        p.stage("clean", **options)
    with pytest.raises(TypeError):
        p.step(**options)
    p.close()


SCRIPT = """
import sys

import pandas as pd

from checkpointing import Pipeline

RATE = 0.5


def scale(df):
    return df * RATE


pipeline = Pipeline("script", checkpoint_dir=sys.argv[1], log_dir=sys.argv[2])
with pipeline:

    @pipeline.step(cache=True)
    def prepare(df: pd.DataFrame) -> pd.DataFrame:
        # halve every price
        return scale(df)

    prepare(pd.DataFrame({"close": [1.0, 2.0]}))
print(pipeline.record["stages"][0].get("cached_from") is not None)
"""


def test_the_same_script_under_another_name_in_another_folder_hits_and_an_edit_misses(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    def run(text: str, where: str) -> bool:
        script = tmp_path / where
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(text, encoding="utf-8")
        done = subprocess.run(
            [sys.executable, script.name, str(tmp_path / "ckpt"), str(tmp_path / "logs")],
            cwd=script.parent,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip() == "True"

    assert not run(SCRIPT, "a/job.py")
    assert run(SCRIPT, "b/deeper/renamed_job.py")  # another process, name and folder
    assert run(SCRIPT.replace("# halve every price", "# prices / 2"), "c/job.py")
    assert not run(SCRIPT.replace("RATE = 0.5", "RATE = 0.25"), "a/job.py")
    assert not run(SCRIPT.replace("return scale(df)", "return scale(df) + 0"), "a/job.py")


def test_a_compacted_checkpoint_feeds_the_next_stage_the_same_cache_key(dirs) -> None:
    """A frame restored from a compacted checkpoint is named by the hash of its data as saved,
    so the stages it feeds still hit the cache."""

    def run() -> list[bool]:
        computed = []
        p = Pipeline("etl", **dirs)
        with p:
            with p.stage("extract", inputs={"n": 50}, cache=True) as s:
                if not s.restored:
                    computed.append(True)
                    s.checkpoint(frame(50))
            with p.stage("clean", inputs={"prices": s.data}, cache=True) as c:
                if not c.restored:
                    computed.append(True)
                    c.checkpoint(s.data.dropna())
        return computed

    assert run() == [True, True]
    from checkpointing import CheckpointManager

    assert len(CheckpointManager(dirs["checkpoint_dir"]).compact(older_than=0).rewritten) == 2
    assert run() == []
