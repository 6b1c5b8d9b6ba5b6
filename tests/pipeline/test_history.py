"""Runs as a first-class concept: list_runs and get_run from run records and events."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from checkpointing import (
    AmbiguousIdError,
    Pipeline,
    RunNotFoundError,
    get_run,
    list_runs,
)
from scripts.demo_runs import TICKERS, XSS_PROBE, make_demo_runs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    base = tmp_path_factory.mktemp("demo")
    ids = make_demo_runs(base / "ck", base / "logs")
    return base / "ck", base / "logs", ids


def _dirs(demo):
    return {"checkpoint_dir": demo[0], "log_dir": demo[1]}


def test_list_runs_finds_every_run_newest_first(demo) -> None:
    runs = list_runs(**_dirs(demo))
    assert [r.name for r in runs] == ["adhoc", "nightly", "etl"]
    by_name = {r.name: r for r in runs}
    assert by_name["etl"].status == "complete"
    assert len(by_name["etl"].attempts) == 2
    # extract, 4 fetch items, validate, its nested check_schema, load
    assert (by_name["etl"].stages_done, by_name["etl"].stages_total) == (8, 8)
    assert (by_name["nightly"].stages_done, by_name["nightly"].stages_total) == (3, 3)
    assert not by_name["adhoc"].has_record  # no checkpoints: found by its events


def test_list_runs_filters(demo) -> None:
    assert [r.name for r in list_runs(**_dirs(demo), name="nightly")] == ["nightly"]
    assert [r.name for r in list_runs(**_dirs(demo), status="failed")] == []
    future = datetime.now(UTC) + timedelta(hours=1)
    assert list_runs(**_dirs(demo), since=future) == []
    assert len(list_runs(**_dirs(demo), since=datetime.now(UTC) - timedelta(hours=1))) == 3
    with pytest.raises(ValueError, match="unknown run status"):
        list_runs(**_dirs(demo), status="bogus")


def test_get_run_separates_attempts(demo) -> None:
    run = get_run(demo[2]["etl"], **_dirs(demo))
    first, second = run.attempts
    assert (first.number, first.status, first.resumed) == (1, "failed", False)
    assert (second.number, second.status, second.resumed) == (2, "complete", True)
    statuses_1 = {e.label: e.status for e in first.executions}
    statuses_2 = {e.label: e.status for e in second.executions}
    fetches = {f"fetch[{t}]" for t in TICKERS}
    assert statuses_1 == {"extract": "ran", "validate": "ran", "check_schema": "ran",
                          "load": "failed"} | dict.fromkeys(fetches, "ran")  # fmt: skip
    assert statuses_2 == {"extract": "restored", "validate": "restored",
                          "check_schema": "not_run", "load": "ran"} | dict.fromkeys(
        fetches, "restored"
    )  # fmt: skip


def test_a_failed_execution_has_its_error_and_traceback(demo) -> None:
    run = get_run(demo[2]["etl"], **_dirs(demo))
    (load,) = [e for e in run.attempts[0].executions if e.stage == "load"]
    assert load.error is not None
    assert load.error["type"] == "DemoFailure"
    assert load.error["message"] == XSS_PROBE
    assert "Traceback (most recent call last)" in load.error["traceback"]
    assert "raise DemoFailure" in load.error["traceback"]


def test_executions_carry_timing_rows_checkpoints_and_quality(demo) -> None:
    run = get_run(demo[2]["etl"], **_dirs(demo))
    first = run.attempts[0]
    extract = first.executions[0]
    assert extract.rows == 250 * len(TICKERS)
    assert extract.duration_seconds is not None and extract.cpu_seconds is not None
    assert len(extract.checkpoint_ids) == 1
    (validate,) = [e for e in first.executions if e.stage == "validate"]
    assert validate.quality == ({"rows": 1000, "null_close": 0, "duplicate_days": 0},)
    (nested,) = [e for e in first.executions if e.stage == "check_schema"]
    assert nested.parent == "validate"
    restored = run.attempts[1].executions[0]
    assert restored.restored_from == extract.checkpoint_ids[0]
    assert first.config["checkpoints"] is True and first.config["name"] == "etl"


def test_short_unique_prefixes_are_accepted(demo) -> None:
    etl = demo[2]["etl"]
    assert get_run(etl[:-6], **_dirs(demo)).pipeline_id == etl
    assert get_run(demo[2]["adhoc"][:8], **_dirs(demo)).pipeline_id == demo[2]["adhoc"]


def test_unknown_and_ambiguous_ids_are_refused(demo, tmp_path: Path) -> None:
    with pytest.raises(RunNotFoundError):
        get_run("nope", **_dirs(demo))
    for _ in range(2):
        with Pipeline("twin", checkpoint_dir=demo[0], log_dir=tmp_path / "logs"):
            pass
    with pytest.raises(AmbiguousIdError) as caught:
        get_run("twin_", **_dirs(demo))
    assert len(caught.value.matches) == 2


_HOLDER = textwrap.dedent(
    """
    import sys
    from checkpointing import Pipeline
    pipeline = Pipeline("held", checkpoint_dir=sys.argv[1], log_dir=sys.argv[2])
    with pipeline, pipeline.stage("slow"):
        print(pipeline.pipeline_id, flush=True)
        sys.stdin.readline()
    """
)


def test_a_live_run_is_running_and_a_killed_one_interrupted(tmp_path: Path) -> None:
    ck, logs = tmp_path / "ck", tmp_path / "logs"
    with subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(ck), str(logs)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    ) as child:
        try:
            assert child.stdout is not None
            pipeline_id = child.stdout.readline().strip()
            run = get_run(pipeline_id, checkpoint_dir=ck, log_dir=logs)
            assert run.status == "running"
            assert [(e.stage, e.status) for e in run.attempts[0].executions] == [
                ("slow", "running")
            ]
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
    run = get_run(pipeline_id, checkpoint_dir=ck, log_dir=logs)
    assert run.status == "interrupted"
    assert run.attempts[0].status == "interrupted"
    assert run.attempts[0].executions[0].status == "interrupted"
    (found,) = list_runs(checkpoint_dir=ck, log_dir=logs, status="interrupted")
    assert found.pipeline_id == pipeline_id


def test_reading_runs_writes_nothing(demo) -> None:
    before = sorted(p for p in demo[0].rglob("*"))
    list_runs(**_dirs(demo))
    get_run(demo[2]["etl"], **_dirs(demo))
    assert sorted(p for p in demo[0].rglob("*")) == before


def test_to_json_is_strict_json(demo) -> None:
    import json

    run = get_run(demo[2]["etl"], **_dirs(demo))
    text = json.dumps(run.to_json(), allow_nan=False)
    assert json.loads(text)["attempts"][1]["executions"][0]["status"] == "restored"
    assert "executions" not in run.to_json(executions=False)["attempts"][0]
