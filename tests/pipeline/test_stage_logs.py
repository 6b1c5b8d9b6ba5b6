"""Per-stage log files: recorded as ours for retention."""

from __future__ import annotations

import logging
import os
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
