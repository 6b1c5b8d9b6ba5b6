"""python -m checkpointing: every subcommand, human and --json output, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from checkpointing import CheckpointManager
from checkpointing.__main__ import main
from tests._processes import run_with_reader_gone


@pytest.fixture
def store(tmp_path):
    manager = CheckpointManager(tmp_path)
    ids = [
        manager.save_checkpoint("etl", stage, pd.DataFrame({"a": [1, 2]}))
        for stage in ("extract", "transform")
    ]
    return manager, ids


def run(capsys, *argv):
    code = main([*argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_table_is_aligned(store, capsys):
    manager, ids = store
    code, out, _ = run(capsys, "--dir", str(manager.checkpoint_dir), "list")
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split() == ["CHECKPOINT_ID", "STAGE", "TIMESTAMP", "ROWS", "DATA_SIZE"]
    assert [line.split()[0] for line in lines[1:]] == ids[::-1]
    assert len({line.index("  " + line.split()[1]) for line in lines}) == 1


@pytest.mark.parametrize(
    ("argv", "check"),
    [
        (["list"], lambda obj, ids: [e["checkpoint_id"] for e in obj] == ids[::-1]),
        (["list", "--pipeline", "none"], lambda obj, ids: obj == []),
        (["progress", "etl"], lambda obj, ids: obj["completed_stages"] == ["extract", "transform"]),
        (["verify"], lambda obj, ids: obj["checked"] == 2 and obj["bad"] == []),
        (["rebuild"], lambda obj, ids: obj == {"entries": 2}),
        (
            ["cleanup", "--retention-days", "1"],
            lambda obj, ids: obj == {"deleted": 0, "deleted_runs": 0},
        ),
    ],
)
def test_json_output(store, capsys, argv, check):
    manager, ids = store
    code, out, _ = run(capsys, "--dir", str(manager.checkpoint_dir), *argv[:1], "--json", *argv[1:])
    assert code == 0
    assert check(json.loads(out), ids)


def test_show(store, capsys):
    manager, ids = store
    code, out, _ = run(capsys, "--dir", str(manager.checkpoint_dir), "show", "--json", ids[0])
    assert code == 0 and json.loads(out) == manager.get_state(ids[0])
    code, out, _ = run(capsys, "--dir", str(manager.checkpoint_dir), "show", ids[0])
    assert code == 0 and "data_hash" in out


def test_verify_reports_the_bad_ones(store, capsys):
    manager, ids = store
    path = manager.checkpoint_dir / f"{ids[0]}.parquet"
    path.write_bytes(path.read_bytes()[:-10])
    code, out, _ = run(capsys, "--dir", str(manager.checkpoint_dir), "verify")
    assert code == 1
    assert f"BAD  {ids[0]}" in out
    assert f"ok   {ids[1]}" in out
    assert "1 ok, 1 bad" in out


def test_delete(store, capsys):
    manager, ids = store
    code, out, _ = run(capsys, "--dir", str(manager.checkpoint_dir), "delete", ids[0])
    assert code == 0 and ids[0] in out
    code, _, err = run(capsys, "--dir", str(manager.checkpoint_dir), "delete", ids[0])
    assert code == 1 and err.startswith("error: ") and len(err.splitlines()) == 1


@pytest.mark.parametrize("argv", [["show", "etl_x_1"], ["show", "../x"], ["verify", "etl_x_1"]])
def test_errors_are_one_line_on_stderr(store, capsys, argv):
    manager, _ = store
    code, out, err = run(capsys, "--dir", str(manager.checkpoint_dir), *argv)
    assert code == 1
    assert "Traceback" not in err
    assert len((err or out).strip().splitlines()) >= 1


def test_real_subprocess(store):
    manager, ids = store
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "checkpointing",
            "--dir",
            str(manager.checkpoint_dir),
            "list",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert [e["checkpoint_id"] for e in json.loads(proc.stdout)] == ids[::-1]


def test_a_closed_pipe_ends_quietly(store):
    """`python -m checkpointing list | head -1`: no traceback, no error line once head is gone."""
    manager, _ = store
    proc = run_with_reader_gone("-m", "checkpointing", "--dir", str(manager.checkpoint_dir), "list")
    assert proc.stderr == ""
    assert proc.returncode == 1


@pytest.mark.parametrize("days", ["inf", "nan", "-1", "1e300", "soon"])
def test_a_bad_retention_is_a_one_line_usage_error(store, capsys, days):
    manager, ids = store
    with pytest.raises(SystemExit) as info:
        main(["--dir", str(manager.checkpoint_dir), "cleanup", "--retention-days", days])
    out, err = capsys.readouterr()
    assert info.value.code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "argument --retention-days" in err and repr(days) in err
    assert [e["checkpoint_id"] for e in manager.list_checkpoints()] == ids[::-1]


@pytest.mark.parametrize(
    "argv",
    [
        ["list"],
        ["show", "etl_x_1"],
        ["verify"],
        ["delete", "etl_x_1"],
        ["cleanup"],
        ["progress", "etl"],
        ["rebuild"],
        ["diff", "etl_x_1", "etl_x_2"],
    ],
)
@pytest.mark.parametrize("where", ["before", "after"])
def test_a_missing_directory_fails_every_command(tmp_path, capsys, argv, where):
    """A CI step checking a store must not pass on a mistyped --dir."""
    missing = tmp_path / "chekpoints"
    dir_option = ["--dir", str(missing)]
    code, out, err = run(
        capsys, *([*dir_option, *argv] if where == "before" else [*argv, *dir_option])
    )
    assert code == 1
    assert out == ""
    assert err == f"error: checkpoint directory {str(missing)!r} does not exist\n"
    assert not missing.exists()


def test_a_file_given_as_the_directory_is_an_error(tmp_path, capsys):
    path = tmp_path / "file"
    path.write_text("x")
    code, _, err = run(capsys, "--dir", str(path), "list")
    assert code == 1
    assert err == f"error: checkpoint directory {str(path)!r} is not a directory\n"


def test_global_options_work_after_the_command_and_win_there(store, tmp_path, capsys):
    manager, ids = store
    other = tmp_path / "elsewhere"
    other.mkdir()
    code, out, _ = run(capsys, "list", "--json", "--dir", str(manager.checkpoint_dir))
    assert code == 0 and [e["checkpoint_id"] for e in json.loads(out)] == ids[::-1]
    code, out, _ = run(capsys, "--dir", str(other), "list", "--dir", str(manager.checkpoint_dir))
    assert code == 0 and ids[0] in out
    code, out, _ = run(capsys, "--dir", str(manager.checkpoint_dir), "list", "--dir", str(other))
    assert code == 0 and out.strip() == "no checkpoints"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["list"], "logs"),
        (["--log-dir", "a", "list"], "a"),
        (["list", "--log-dir", "b"], "b"),
        (["--log-dir", "a", "list", "--log-dir", "b"], "b"),
    ],
)
def test_log_dir_is_a_global_option(argv, expected):
    from checkpointing.cli._main import _parser

    assert _parser().parse_args(argv).log_dir == expected


def test_progress_of_a_run_lists_only_stages_that_completed(tmp_path, capsys):
    from checkpointing import Pipeline

    ckpt = tmp_path / "ckpt"
    p = Pipeline("etl", checkpoint_dir=ckpt, log_dir=tmp_path / "logs")
    with pytest.raises(RuntimeError), p:
        with p.stage("extract") as s:
            s.checkpoint(pd.DataFrame({"a": [1]}))
        with p.stage("transform") as s:
            s.checkpoint(pd.DataFrame({"a": [2]}))  # saved, then the stage fails
            raise RuntimeError("bad transform")
    code, out, _ = run(capsys, "--dir", str(ckpt), "progress", p.pipeline_id, "--json")
    progress = json.loads(out)
    assert code == 0
    assert progress["completed_stages"] == ["extract"]
    assert progress["status"] == "failed"
    assert progress["total_checkpoints"] == 2
