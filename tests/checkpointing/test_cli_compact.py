"""python -m checkpointing compact: output, --json, --dry-run, filters and usage errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from checkpointing import CheckpointManager
from checkpointing.__main__ import main


@pytest.fixture
def store(tmp_path):
    manager = CheckpointManager(tmp_path)
    data = pd.DataFrame({"a": np.arange(20_000) % 7, "b": np.arange(20_000) // 3})
    ids = [manager.save_checkpoint(p, "s", data) for p in ("etl", "other")]
    return manager, ids


def run(capsys, manager, *argv):
    code = main(["--dir", str(manager.checkpoint_dir), "compact", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_compact_prints_what_it_rewrote_and_the_space_saved(store, capsys):
    manager, ids = store
    before = sum(manager.get_state(c)["data_size"] for c in ids)
    code, out, err = run(capsys, manager, "--older-than", "0s", "--level", "9")
    after = sum(manager.get_state(c)["data_size"] for c in ids)
    assert (code, err) == (0, "")
    (line,) = out.splitlines()
    assert line.startswith("compacted 2 checkpoint(s) to zstd level 9: ")
    assert f"({(before - after) / before:.0%})" in line
    code, out, _ = run(capsys, manager, "--older-than", "0", "--level", "9")
    assert out.splitlines() == [
        "compacted 0 checkpoint(s) to zstd level 9",
        "skipped 2 already at zstd level 9",
    ]


def test_compact_json_dry_run_and_pipeline_filter(store, capsys):
    manager, ids = store
    code, out, _ = run(
        capsys, manager, "--older-than", "0", "--codec", "gzip", "--dry-run", "--json"
    )
    result = json.loads(out)
    assert code == 0
    assert result["dry_run"] is True and result["bytes_after"] is None
    assert sorted(result["rewritten"]) == sorted(ids)
    assert all(manager.get_state(c)["compression"] == "snappy" for c in ids)
    code, out, _ = run(capsys, manager, "--older-than", "0", "--pipeline", "etl", "--json")
    result = json.loads(out)
    assert result["rewritten"] == [ids[0]]
    assert result["bytes_saved"] == result["bytes_before"] - result["bytes_after"] > 0
    assert manager.get_state(ids[1])["compression"] == "snappy"


def test_compact_older_than_a_span_leaves_new_checkpoints(store, capsys):
    manager, ids = store
    for span in ("2d", "12h", "30m", "1w", "1.5"):
        code, out, _ = run(capsys, manager, "--older-than", span)
        assert (code, out.splitlines()[0]) == (0, "compacted 0 checkpoint(s) to zstd")
    assert all(manager.get_state(c)["compression"] == "snappy" for c in ids)


def test_compact_names_a_damaged_checkpoint_and_fails(store, capsys):
    manager, ids = store
    path = manager.checkpoint_dir / f"{ids[0]}.parquet"
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    code, out, _ = run(capsys, manager, "--older-than", "0")
    assert code == 1
    assert f"FAILED {ids[0]}: " in out and "compacted 1 checkpoint(s)" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--older-than", "2x"], "invalid age: '2x'"),
        (["--older-than=-1d"], "invalid age: '-1d'"),
        (["--older-than", "99999999d"], "not reaching back before year 1"),
        ([], "the following arguments are required: --older-than"),
        (["--older-than", "1d", "--codec", "lzma"], "invalid choice: 'lzma'"),
        (["--older-than", "1d", "--level", "23"], "zstd compression level must be 1 to 22"),
        (["--older-than", "1d", "--codec", "gzip", "--level", "0"], "gzip compression level"),
        (["--older-than", "1d", "--codec", "snappy", "--level", "3"], "takes no compression"),
        (["--older-than", "1d", "--level", "high"], "invalid int value: 'high'"),
    ],
)
def test_compact_usage_errors_are_one_line_and_change_nothing(store, capsys, argv, message):
    manager, ids = store
    code: int | str | None
    try:
        code = main(["--dir", str(manager.checkpoint_dir), "compact", *argv])
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert all(manager.get_state(c)["compression"] == "snappy" for c in ids)
