"""An unusable, read-only or deleted checkpoint directory and a log directory deleted mid-run.

The suite runs as root, where ``chmod`` does not stop writes and no read-only bind mount is
available; what is testable instead is a checkpoint path that is a file, or lies under a file,
which fails the same ``mkdir``/``open`` calls a read-only directory fails (docs/reliability.md).
"""

from __future__ import annotations

import logging
import shutil
import time

import pandas as pd
import pytest

from checkpointing import CheckpointManager, Pipeline
from checkpointing.cli._main import main as checkpoint_cli
from tests.reliability.conftest import strict_json_lines

FRAME = pd.DataFrame({"x": [1, 2, 3]})


@pytest.mark.parametrize("where", ["is_a_file", "under_a_file"])
def test_a_checkpoint_dir_that_cannot_be_a_directory_raises_a_clear_oserror(tmp_path, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    directory = blocker if where == "is_a_file" else blocker / "checkpoints"
    manager = CheckpointManager(directory)
    with pytest.raises(NotADirectoryError) as info:
        manager.save_checkpoint("etl", "load", FRAME)
    assert str(blocker) in str(info.value)
    assert manager.list_checkpoints() == []  # reading never fails or creates anything
    assert blocker.read_text() == "not a directory"


def test_a_checkpoint_dir_deleted_mid_run_is_recreated_by_the_next_save(tmp_path):
    directory = tmp_path / "ckpt"
    pipeline = Pipeline("etl", checkpoint_dir=directory, log_dir=tmp_path / "logs")
    with pipeline:
        with pipeline.stage("extract") as stage:
            stage.checkpoint(FRAME)
        shutil.rmtree(directory)
        with pipeline.stage("transform") as stage:
            stage.checkpoint(FRAME * 2)
            saved = stage.checkpoint_ids[0]
    manager = CheckpointManager(directory)
    assert [e["checkpoint_id"] for e in manager.list_checkpoints()] == [saved]
    pd.testing.assert_frame_equal(manager.load_checkpoint(saved)["data"], FRAME * 2)
    assert checkpoint_cli(["--dir", str(directory), "verify"]) == 0


def test_a_log_dir_deleted_mid_run_is_recreated_and_the_pipeline_keeps_running(tmp_path):
    log_dir = tmp_path / "logs"
    pipeline = Pipeline("etl", checkpoint_dir=tmp_path / "ckpt", log_dir=log_dir)
    log = logging.getLogger("reliability.paths")
    with pipeline:
        with pipeline.stage("extract"):
            log.info("before the directory is deleted")
        shutil.rmtree(log_dir)
        # Handlers check that their path still names their file once a second (documented).
        time.sleep(1.1)
        with pipeline.stage("transform"):
            log.info("after the directory is deleted")
    events = strict_json_lines(log_dir / "events" / "events.log")
    assert [e["event_type"] for e in events if e["stage"] == "transform"][:1] == ["stage_start"]
    assert any(e["event_type"] == "pipeline_complete" for e in events)
    records = strict_json_lines(log_dir / "pipeline.log")
    assert any(r.get("message") == "after the directory is deleted" for r in records)
