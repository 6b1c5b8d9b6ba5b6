"""The example ETL job end to end, as a user runs it: real processes in a temporary directory."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from scripts.etl_stages import extract, preprocess, store, validate
from scripts.market_data import generate_ohlcv
from scripts.run_etl_pipeline import main, parse_args, resume_command

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "run_etl_pipeline.py"
DATA_ARGS = ["--tickers", "AAPL,MSFT", "--start", "2023-01-01", "--end", "2023-12-31"]
OUTPUT = Path("data/processed/ohlcv_AAPL-MSFT_20230101_20231231.parquet")
STAGES = ["data_extraction", "data_validation", "data_preprocessing", "data_storage"]
RESUMED_AT_PREPROCESSING = {
    "data_extraction": "restored",
    "data_validation": "restored",
    "data_preprocessing": "ran",
    "data_storage": "ran",
}


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _statuses(stdout: str) -> dict[str, str]:
    """stage -> status, read from the summary table."""
    rows = [line.split() for line in stdout.splitlines()]
    return {row[0]: row[1] for row in rows if row and row[0] in STAGES}


def _resume_as_printed(
    cwd: Path, failed: subprocess.CompletedProcess[str]
) -> tuple[list[str], subprocess.CompletedProcess[str]]:
    """Run exactly the command a failed run printed (with this interpreter); return the command
    and the finished run."""
    line = next(x for x in failed.stderr.splitlines() if x.startswith("resume with"))
    command = shlex.split(line.removeprefix("resume with"))
    resumed = subprocess.run(
        [sys.executable, *command[1:]], cwd=cwd, capture_output=True, text=True, check=False
    )
    return command, resumed


def _events(cwd: Path) -> list[dict[str, Any]]:
    lines = (cwd / "logs" / "events" / "events.log").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, str]:
    cwd = tmp_path_factory.mktemp("uninterrupted")
    done = _run(cwd, *DATA_ARGS)
    assert done.returncode == 0, done.stderr
    return cwd, pd.read_parquet(cwd / OUTPUT), done.stdout


def test_uninterrupted_run_writes_the_output_and_a_summary(uninterrupted) -> None:
    cwd, output, stdout = uninterrupted
    assert _statuses(stdout) == dict.fromkeys(STAGES, "ran")
    assert f"output        {OUTPUT}" in stdout
    assert "checkpoints   data/checkpoints" in stdout
    assert len(output) == 520
    assert {"return_1d", "log_return", "ma_5", "ma_20", "was_filled", "is_outlier"} <= set(output)
    assert output[["open", "high", "low", "close"]].notna().all().all()
    # one checkpoint per stage, and one per ticker of each fan-out (extraction, preprocessing)
    assert len(list((cwd / "data" / "checkpoints").glob("*.parquet"))) == 4 + 2 * 2


def _item_pids(cwd: Path, stage: str) -> dict[str, int]:
    """key -> pid of the process that checkpointed each completed item of ``stage``."""
    (run,) = (cwd / "data" / "checkpoints" / "runs").glob("*.json")
    record = json.loads(run.read_text())
    ids = [i for e in record["stages"] if e["stage"] == stage for i in e["checkpoint_ids"]]
    manifests = [json.loads((cwd / "data" / "checkpoints" / f"{i}.json").read_text()) for i in ids]
    return {m["metadata"]["key"]: m["pid"] for m in manifests}


def test_without_workers_each_ticker_is_an_item_of_the_fan_out_in_this_process(
    uninterrupted,
) -> None:
    cwd, _, _ = uninterrupted
    events = _events(cwd)
    (record,) = (cwd / "data" / "checkpoints" / "runs").glob("*.json")
    job_pid = json.loads(record.read_text())["pid"]
    for stage in ("extract_ticker", "preprocess_ticker"):
        (start,) = [e for e in events if (e["stage"], e["event_type"]) == (stage, "map_start")]
        assert start["metadata"] == {"items": 2, "executor": "in-process"}
        assert _item_pids(cwd, stage) == {"AAPL": job_pid, "MSFT": job_pid}


def test_the_output_is_byte_for_byte_the_stage_functions_in_one_loop(
    tmp_path: Path, uninterrupted
) -> None:
    cwd, _, _ = uninterrupted
    flagged, _ = validate(extract("synthetic", ["AAPL", "MSFT"], "2023-01-01", "2023-12-31"))
    store(preprocess(flagged), tmp_path / "loop.parquet")
    assert (cwd / OUTPUT).read_bytes() == (tmp_path / "loop.parquet").read_bytes()


def test_validation_logs_data_quality_events(uninterrupted) -> None:
    cwd, _, stdout = uninterrupted
    events = _events(cwd)
    quality = [e for e in events if e["event_type"] == "data_quality_check"]
    assert len(quality) == 1
    metrics = quality[0]["metadata"]
    assert quality[0]["stage"] == "data_validation"
    assert metrics["missing_values"] > 0 and metrics["outliers"] > 0
    assert 0 < metrics["missing_rate"] < 0.01
    complete = next(
        e for e in events if e["event_type"] == "stage_complete" and e["stage"] == "data_validation"
    )
    assert complete["metadata"]["data_quality"] == metrics
    assert f"{metrics['outliers']} outliers" in stdout


def test_fail_then_resume_restores_finished_stages_and_matches_uninterrupted(
    tmp_path: Path, uninterrupted
) -> None:
    _, expected, _ = uninterrupted
    failed = _run(tmp_path, *DATA_ARGS, "--fail-at", "data_preprocessing")
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    assert (
        "error: stage data_preprocessing failed: InjectedFailure: injected failure in "
        "data_preprocessing" in failed.stderr
    )
    assert _statuses(failed.stderr) == {
        "data_extraction": "ran",
        "data_validation": "ran",
        "data_preprocessing": "failed",
        "data_storage": "not",
    }
    assert not (tmp_path / OUTPUT).exists()
    errors = [e for e in _events(tmp_path) if e["event_type"] == "stage_error"]
    assert [e["stage"] for e in errors] == ["data_preprocessing"]
    assert "InjectedFailure" in (tmp_path / "logs" / "errors" / "errors.log").read_text()

    command, resumed = _resume_as_printed(tmp_path, failed)
    assert command[1:] == [*command[1:2], *DATA_ARGS, "--resume", command[-1]]
    assert resumed.returncode == 0, resumed.stderr
    assert _statuses(resumed.stdout) == RESUMED_AT_PREPROCESSING
    pipeline_id = command[-1]
    assert f"Pipeline {pipeline_id} resumed and completed" in resumed.stdout
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / OUTPUT), expected)


def test_workers_fan_out_per_ticker_on_dask_to_the_same_output(
    tmp_path: Path, uninterrupted
) -> None:
    _, expected, _ = uninterrupted
    done = _run(tmp_path, *DATA_ARGS, "--workers", "2")
    assert done.returncode == 0, done.stderr
    assert _statuses(done.stdout) == dict.fromkeys(STAGES, "ran")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / OUTPUT), expected)
    events = _events(tmp_path)
    for stage in ("extract_ticker", "preprocess_ticker"):
        done_items = [
            e for e in events if (e["stage"], e["event_type"]) == (stage, "stage_complete")
        ]
        assert sorted(e["metadata"]["key"] for e in done_items) == ["AAPL", "MSFT"]
    (run,) = (tmp_path / "data" / "checkpoints" / "runs").glob("*.json")
    record = json.loads(run.read_text())

    def pids(stage: str) -> set[int]:
        ids = [i for e in record["stages"] if e["stage"] == stage for i in e["checkpoint_ids"]]
        manifests = [tmp_path / "data" / "checkpoints" / f"{i}.json" for i in ids]
        return {json.loads(m.read_text())["pid"] for m in manifests}

    assert pids("data_extraction") == {record["pid"]}  # the driver saves the stage
    assert pids("extract_ticker") and record["pid"] not in pids("extract_ticker")  # the workers


def test_the_resume_command_keeps_workers_and_no_cache() -> None:
    args = parse_args([*DATA_ARGS, "--workers", "3", "--no-cache"])
    assert shlex.split(resume_command(args, "etl_1"))[-5:] == [
        "--workers",
        "3",
        "--no-cache",
        "--resume",
        "etl_1",
    ]
    assert "--no-cache" not in resume_command(parse_args(DATA_ARGS), "etl_1")


@pytest.mark.parametrize("stage", ["data_extraction", "data_storage"])
def test_resume_without_an_id_continues_the_latest_unfinished_run(
    tmp_path: Path, uninterrupted, stage: str
) -> None:
    _, expected, _ = uninterrupted
    assert _run(tmp_path, *DATA_ARGS, "--fail-at", stage).returncode == 1
    resumed = _run(tmp_path, *DATA_ARGS, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    statuses = _statuses(resumed.stdout)
    index = STAGES.index(stage)
    assert [statuses[s] for s in STAGES[:index]] == ["restored"] * index
    assert [statuses[s] for s in STAGES[index:]] == ["ran"] * (4 - index)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / OUTPUT), expected)


@pytest.mark.parametrize("cache", [[], ["--no-cache"]], ids=["cache", "no-cache"])
def test_a_resume_with_other_dates_refetches_the_tickers_the_failed_run_fetched(
    tmp_path: Path, cache: list[str]
) -> None:
    later = ["--tickers", "AAPL,MSFT", "--start", "2023-07-01", "--end", "2023-12-31", *cache]
    (tmp_path / "fresh").mkdir()
    assert _run(tmp_path / "fresh", *later).returncode == 0
    assert _run(tmp_path, *DATA_ARGS, *cache, "--fail-at", "data_validation").returncode == 1
    resumed = _run(tmp_path, *later, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert _statuses(resumed.stdout) == dict.fromkeys(STAGES, "ran")
    name = "data/processed/ohlcv_AAPL-MSFT_20230701_20231231.parquet"
    assert (tmp_path / name).read_bytes() == (tmp_path / "fresh" / name).read_bytes()


def test_rerun_of_a_fanned_out_stage_runs_its_tickers_again(tmp_path: Path) -> None:
    assert _run(tmp_path, *DATA_ARGS).returncode == 0
    done = _run(tmp_path, *DATA_ARGS, "--rerun", "data_extraction")
    assert done.returncode == 0, done.stderr
    assert _statuses(done.stdout)["data_extraction"] == "ran"
    pipeline_id = done.stdout.split()[1]
    summary = next(
        e
        for e in _events(tmp_path)
        if (e["pipeline_id"], e["stage"], e["event_type"])
        == (pipeline_id, "extract_ticker", "map_complete")
    )
    assert (summary["metadata"]["done"], summary["metadata"]["restored"]) == (2, 0)


def test_resume_with_other_data_arguments_reruns_what_they_change(tmp_path: Path) -> None:
    assert _run(tmp_path, *DATA_ARGS, "--fail-at", "data_validation").returncode == 1
    other = _run(
        tmp_path, "--tickers", "IBM", "--start", "2023-01-01", "--end", "2023-12-31", "--resume"
    )
    assert other.returncode == 0, other.stderr
    assert "resumed and completed" in other.stdout
    assert _statuses(other.stdout) == dict.fromkeys(STAGES, "ran")
    assert "reran         data_extraction: inputs changed: parameter tickers" in other.stdout
    output = pd.read_parquet(tmp_path / "data/processed/ohlcv_IBM_20230101_20231231.parquet")
    assert set(output["ticker"]) == {"IBM"}


def test_a_rerun_with_unchanged_arguments_restores_every_stage_from_the_cache(
    tmp_path: Path, uninterrupted
) -> None:
    _, expected, _ = uninterrupted
    assert _run(tmp_path, *DATA_ARGS).returncode == 0
    again = _run(tmp_path, *DATA_ARGS)
    assert again.returncode == 0, again.stderr
    assert _statuses(again.stdout) == dict.fromkeys(STAGES, "cached")
    assert "cache         4 of 4 stages restored from earlier runs" in again.stdout
    assert "data quality  4 missing values, 2 outliers" in again.stdout
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / OUTPUT), expected)
    hits = [e for e in _events(tmp_path) if e["event_type"] == "stage_restored"]
    assert [e["stage"] for e in hits] == STAGES
    assert all(e["metadata"]["reason"].startswith("cache hit") for e in hits)


def test_rerun_from_runs_that_stage_and_the_later_ones_again(tmp_path: Path) -> None:
    assert _run(tmp_path, *DATA_ARGS).returncode == 0
    done = _run(tmp_path, *DATA_ARGS, "--rerun-from", "data_preprocessing")
    assert done.returncode == 0, done.stderr
    assert _statuses(done.stdout) == {
        "data_extraction": "cached",
        "data_validation": "cached",
        "data_preprocessing": "ran",
        "data_storage": "ran",
    }
    assert "rerun requested (rerun_from='data_preprocessing')" in done.stdout
    no_cache = _run(tmp_path, *DATA_ARGS, "--no-cache")
    assert _statuses(no_cache.stdout) == dict.fromkeys(STAGES, "ran")


def test_a_deleted_output_file_is_written_again_on_a_cache_hit(
    tmp_path: Path, uninterrupted
) -> None:
    _, expected, _ = uninterrupted
    assert _run(tmp_path, *DATA_ARGS).returncode == 0
    (tmp_path / OUTPUT).unlink()
    again = _run(tmp_path, *DATA_ARGS)
    assert again.returncode == 0, again.stderr
    assert _statuses(again.stdout)["data_storage"] == "ran"
    assert "reran         data_storage: output file missing or changed" in again.stdout
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / OUTPUT), expected)


def test_a_changed_csv_file_is_a_miss(tmp_path: Path) -> None:
    csv = tmp_path / "bars.csv"
    bars = generate_ohlcv(["AAPL"], "2023-01-01", "2023-03-31")
    bars.to_csv(csv, index=False)
    assert _run(tmp_path, "--source", f"csv:{csv}").returncode == 0
    bars.assign(volume=bars["volume"] + 1).to_csv(csv, index=False)
    again = _run(tmp_path, "--source", f"csv:{csv}")
    assert again.returncode == 0, again.stderr
    assert _statuses(again.stdout)["data_extraction"] == "ran"
    assert "inputs changed: parameter csv_sha256" in again.stdout


def test_csv_source_gives_the_same_output_as_the_same_data_generated(
    tmp_path: Path, uninterrupted
) -> None:
    _, expected, _ = uninterrupted
    csv = tmp_path / "bars.csv"
    generate_ohlcv(["AAPL", "MSFT", "IBM"], "2023-01-01", "2023-12-31").to_csv(csv, index=False)
    done = _run(
        tmp_path, "--source", f"csv:{csv}", "--tickers", "MSFT,AAPL", *DATA_ARGS[2:], "--verbose"
    )
    assert done.returncode == 0, done.stderr
    assert '"event_type": "stage_complete"' in done.stderr or "stage_complete" in done.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / OUTPUT), expected)


def test_verbose_failure_shows_the_traceback(tmp_path: Path) -> None:
    failed = _run(tmp_path, *DATA_ARGS, "--fail-at", "data_extraction", "--verbose")
    assert failed.returncode == 1
    assert "Traceback (most recent call last)" in failed.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([*DATA_ARGS, "--fail-at", "data_loading"], "invalid choice"),
        (["--tickers", "AAPL", "--start", "2023-12-31", "--end", "2023-01-01"], "is after --end"),
        (
            ["--tickers", "AAPL,BAD TICKER", "--start", "2023-01-01", "--end", "2023-01-31"],
            "invalid ticker",
        ),
        (
            ["--tickers", ",", "--start", "2023-01-01", "--end", "2023-01-31"],
            "ticker list is empty",
        ),
        (["--tickers", "AAPL", "--start", "2023-13-01", "--end", "2023-12-31"], "not a date"),
        (["--start", "2023-01-01", "--end", "2023-12-31"], "needs --tickers"),
        (["--source", "csv:missing.csv"], "CSV file not found"),
        (["--source", "yahoo"], "expected 'synthetic' or 'csv:PATH'"),
        ([*DATA_ARGS, "--workers", "0"], "number of workers >= 1"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_csv_without_required_columns_is_refused(tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("date,symbol,close\n2023-01-02,AAPL,1.0\n")
    done = _run(tmp_path, "--source", f"csv:{csv}")
    assert done.returncode == 2
    assert "lacks the column(s) ticker, open, high, low, volume" in done.stderr


def test_resume_of_an_unknown_run_exits_2(tmp_path: Path) -> None:
    done = _run(tmp_path, *DATA_ARGS, "--resume", "etl_20200101_000000_000000000000")
    assert done.returncode == 2
    assert "no run record" in done.stderr


def test_fail_and_resume_with_checkpoints_on_s3_give_the_same_output(
    tmp_path: Path, uninterrupted, s3_url: str
) -> None:
    _, expected, _ = uninterrupted
    store = ["--checkpoint-dir", s3_url]
    failed = _run(tmp_path, *DATA_ARGS, *store, "--fail-at", "data_preprocessing")
    assert failed.returncode == 1, failed.stderr
    command, resumed = _resume_as_printed(tmp_path, failed)
    assert s3_url in command
    assert resumed.returncode == 0, resumed.stderr
    assert _statuses(resumed.stdout) == RESUMED_AT_PREPROCESSING
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / OUTPUT), expected)
    assert not (tmp_path / "data" / "checkpoints").exists()
    assert not (tmp_path / "s3:").exists()
