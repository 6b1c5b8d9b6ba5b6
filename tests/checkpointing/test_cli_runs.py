"""python -m checkpointing runs / run, and short id prefixes in every command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checkpointing import CheckpointManager
from checkpointing.cli._main import main
from scripts.demo_runs import XSS_PROBE, make_demo_runs


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], dict[str, str], Path]:
    base = tmp_path_factory.mktemp("cli-runs")
    ids = make_demo_runs(base / "ck", base / "logs")
    return ["--dir", str(base / "ck"), "--log-dir", str(base / "logs")], ids, base / "ck"


def test_runs_table(demo, capsys: pytest.CaptureFixture[str]) -> None:
    args, ids, _ = demo
    assert main([*args, "runs"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split() == ["PIPELINE_ID", "NAME", "STATUS", "STARTED", "DURATION",
                              "ATTEMPTS", "STAGES"]  # fmt: skip
    etl = next(r for r in rows if r.startswith(ids["etl"]))
    assert etl.split()[2] == "complete"
    assert etl.split()[-2:] == ["2", "8/8"]


def test_runs_filters_and_json(demo, capsys: pytest.CaptureFixture[str]) -> None:
    args, ids, _ = demo
    assert main([*args, "runs", "--name", "nightly", "--json"]) == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert (run["pipeline_id"], run["status"], run["attempt_count"]) == (
        ids["nightly"], "complete", 1
    )  # fmt: skip
    assert main([*args, "runs", "--status", "failed"]) == 0
    assert capsys.readouterr().out.strip() == "no runs"


def test_run_shows_each_attempt_with_stage_statuses(demo, capsys) -> None:
    args, ids, _ = demo
    assert main([*args, "run", ids["etl"][:-5]]) == 0
    out = capsys.readouterr().out
    first, second = out.split("attempt 1:")[1].split("attempt 2:")

    def status(text: str, stage: str) -> str:
        line = next(ln for ln in text.splitlines() if ln.split()[:1] == [stage])
        return " ".join(line.split()[1:3]) if "not run" in line else line.split()[1]

    assert status(first, "load") == "failed"
    assert f"DemoFailure: {XSS_PROBE}" in first
    assert "Traceback (most recent call last)" in first
    assert status(second, "extract") == "restored"
    assert status(second, "check_schema") == "not run"
    assert status(second, "load") == "ran"


def test_run_json_one_attempt(demo, capsys: pytest.CaptureFixture[str]) -> None:
    args, ids, _ = demo
    assert main([*args, "run", ids["etl"], "--attempt", "2", "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    assert [a["number"] for a in run["attempts"]] == [2]
    assert main([*args, "run", ids["etl"], "--attempt", "3"]) == 1
    assert "has no attempt 3" in capsys.readouterr().err


def test_ambiguous_and_unknown_ids_are_one_line_errors(demo, capsys) -> None:
    args, _, _ = demo
    assert main([*args, "run", "e"]) == 0  # etl only: unique
    capsys.readouterr()
    assert main([*args, "run", "zzz"]) == 1
    assert capsys.readouterr().err.startswith("error: no run record for pipeline id 'zzz'")


def test_checkpoint_commands_accept_unique_prefixes(demo, capsys) -> None:
    args, ids, ck = demo
    checkpoints = CheckpointManager(ck).list_checkpoints(ids["nightly"])
    newest = checkpoints[0]["checkpoint_id"]
    assert main([*args, "show", newest[:-4], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["checkpoint_id"] == newest
    assert main([*args, "verify", newest[:-4]]) == 0
    assert "1 ok, 0 bad" in capsys.readouterr().out
    older = checkpoints[1]["checkpoint_id"]
    assert main([*args, "diff", older[:-4], newest[:-4], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["b"]["id"] == newest
    assert main([*args, "progress", ids["nightly"][:-3], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total_checkpoints"] == 3
    assert main([*args, "show", ids["nightly"]]) == 1  # a prefix of three checkpoints
    assert "is ambiguous" in capsys.readouterr().err
