"""A full disk during a save and during logging, simulated with the real RLIMIT_FSIZE.

The child process ignores SIGXFSZ, so a write past the limit fails with EFBIG exactly as a full
disk fails with ENOSPC: the kernel may append part of the buffer, then refuses the rest.
"""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from checkpointing import CheckpointManager, Pipeline
from tests.reliability import _workers
from tests.reliability.conftest import strict_json_lines
from tests.reliability.test_sigkill import REGISTRY_FILES

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 64 * 1024


def run_child(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_full_disk_during_a_save_raises_a_clear_oserror_and_keeps_everything_else(tmp_path):
    directory, result = tmp_path / "ckpt", tmp_path / "result.json"
    child = run_child(
        "from tests.reliability._workers import full_disk_save; "
        f"full_disk_save({str(directory)!r}, {LIMIT}, {str(result)!r})"
    )
    assert child.returncode == 0, child.stderr
    outcome = json.loads(result.read_text())
    assert outcome["error_type"] == "OSError"
    assert outcome["errno"] == errno.EFBIG
    # The message names the checkpoint file that could not be written.
    assert str(directory) in outcome["message"]
    assert "disk_big_" in outcome["message"]
    assert ".parquet" in outcome["message"]

    manager = CheckpointManager(directory)
    listed = [e["checkpoint_id"] for e in manager.list_checkpoints()]
    assert sorted(listed) == sorted(outcome["before"])
    for i, cid in enumerate(outcome["before"]):
        manager.verify_checkpoint(cid)
        pd.testing.assert_frame_equal(manager.load_checkpoint(cid)["data"], _workers.small_frame(i))
    names = {p.name for p in directory.iterdir()}
    expected = {f"{c}{suffix}" for c in outcome["before"] for suffix in (".json", ".parquet")}
    assert names - REGISTRY_FILES == expected, "temp or partial files were left behind"


def test_full_disk_while_logging_keeps_the_pipeline_running_and_reports_once(tmp_path):
    log_dir = tmp_path / "logs"
    records = 300
    child = run_child(
        "from tests.reliability._workers import full_disk_logging; "
        f"full_disk_logging({str(log_dir)!r}, 8192, {records})"
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == f"completed {records}"
    # One report per failing file (events.log and pipeline.log), not one per record.
    assert child.stderr.count("--- Logging error ---") == 2
    assert "File too large" in child.stderr
    # Space comes back: a new run appends to the same files; every line is still strict JSON.
    pipeline = Pipeline("after", checkpoint_dir=tmp_path / "ckpt", log_dir=log_dir)
    with pipeline, pipeline.stage("load") as stage:
        stage.checkpoint(pd.DataFrame({"x": [1, 2]}))
    files = [p for p in log_dir.rglob("*.log*") if p.is_file() and not p.name.startswith(".")]
    parsed = [r for path in files for r in strict_json_lines(path)]
    assert any(str(r.get("pipeline_id")).startswith("after") for r in parsed)
