"""Per-stage log files: a bounded number open at once, recorded as ours for retention."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from checkpointing import Pipeline
from logging_ext import cleanup_old_logs


def _age(path: Path, days: float) -> None:
    moment = time.time() - days * 86400
    os.utime(path, (moment, moment))


def test_retention_deletes_old_rotated_stage_logs_the_pipeline_wrote_and_nothing_else(
    tmp_path: Path,
) -> None:
    log_dir = tmp_path / "logs"
    pipeline = Pipeline("etl", stage_logs=True, checkpoints=False, log_dir=log_dir)
    with pipeline, pipeline.stage("extract"):
        logging.getLogger("myapp").info("extracting")
    stages = log_dir / "stages"
    ours = stages / "extract.log.1"
    foreign = stages / "report.log.1"
    for path in (ours, foreign):
        path.write_text("{}\n")
        _age(path, 30)
    assert cleanup_old_logs(log_dir, 7) == 1
    assert not ours.exists()
    assert foreign.exists()
    assert (stages / "extract.log").exists()


_MANY_STAGES = textwrap.dedent(
    """
    import logging, resource, sys
    from checkpointing import Pipeline

    log_dir, names = sys.argv[1], int(sys.argv[2])
    pipeline = Pipeline("etl", checkpoints=False, stage_logs=True, log_dir=log_dir)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))  # far fewer than the stage names
    user = logging.getLogger("myapp")
    with pipeline:
        for i in range(names):
            with pipeline.stage(f"stage_{i:03d}"):
                user.info("in stage %d", i)
        with pipeline.stage("stage_000"):  # long closed: reopened, appended to
            user.info("again")
    """
)


def test_hundreds_of_stage_names_never_run_out_of_file_descriptors(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    names = 300
    result = subprocess.run(
        [sys.executable, "-c", _MANY_STAGES, str(log_dir), str(names)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Logging error" not in result.stderr
    assert "Too many open files" not in result.stderr
    stages = log_dir / "stages"
    for i in range(names):
        lines = (stages / f"stage_{i:03d}.log").read_text().splitlines()
        records = [json.loads(line) for line in lines]
        messages = [r["message"] for r in records if r["logger"] == "myapp"]
        assert messages == (["in stage 0", "again"] if i == 0 else [f"in stage {i}"])
