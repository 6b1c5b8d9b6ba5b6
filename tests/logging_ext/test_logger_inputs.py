"""PipelineLogger takes what callers pass: odd metadata is recorded, level names work."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from checkpointing import Pipeline
from logging_ext import InvalidHandlerArgumentError, PipelineLogger, log_context
from tests._json import loads_strict


def _lines(path: Path) -> list[dict[str, Any]]:
    return [loads_strict(line) for line in path.read_text().splitlines()]


class _BrokenMapping(Mapping[str, int]):
    def __getitem__(self, key: str) -> int:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("cannot iterate")

    def __len__(self) -> int:
        return 1


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str")


@pytest.mark.parametrize(
    ("metadata", "recorded", "kind"),
    [
        ([1], [1], "list"),
        ("rows=5", "rows=5", "str"),
        (np.array([1, 2]), [1, 2], "ndarray"),
        (7, 7, "int"),
    ],
)
def test_metadata_that_is_not_a_mapping_is_recorded_not_raised(
    tmp_path: Path, metadata: object, recorded: object, kind: str
) -> None:
    with PipelineLogger(tmp_path / "logs") as logger:
        logger.log_event("stage_complete", "run1", "s", metadata=metadata)  # type: ignore[arg-type]
        logger.log_checkpoint("run1", "s", "ckpt-1", metadata=metadata)  # type: ignore[arg-type]
    first, second = _lines(tmp_path / "logs" / "events" / "events.log")
    assert first["metadata"] == {
        "invalid_metadata": recorded,
        "metadata_error": f"metadata must be a mapping, not {kind}",
    }
    assert second["metadata"]["checkpoint_id"] == "ckpt-1"
    assert second["metadata"]["invalid_metadata"] == recorded


def test_a_mapping_that_cannot_be_read_is_reported_in_the_event(tmp_path: Path) -> None:
    with PipelineLogger(tmp_path / "logs") as logger:
        logger.log_event("tick", "run1", metadata=_BrokenMapping())
    (event,) = _lines(tmp_path / "logs" / "events" / "events.log")
    assert event["metadata"]["metadata_error"] == (
        "metadata could not be read: RuntimeError: cannot iterate"
    )


def test_an_exception_whose_str_raises_is_still_logged(tmp_path: Path) -> None:
    with PipelineLogger(tmp_path / "logs") as logger:
        logger.log_stage_error("run1", "s", _Unprintable())
    (event,) = _lines(tmp_path / "logs" / "events" / "events.log")
    assert event["metadata"]["error_type"] == "_Unprintable"
    assert event["metadata"]["error"] == "<exception str() failed: _Unprintable>"


@pytest.mark.parametrize("level", ["DEBUG", "debug", logging.DEBUG])
def test_level_names_are_accepted_like_the_stdlib(tmp_path: Path, level: object) -> None:
    with PipelineLogger(tmp_path / "logs", level=level) as logger:  # type: ignore[arg-type]
        assert logger.level == logging.DEBUG
        with log_context(pipeline_id="run1"):
            logging.getLogger("user").debug("fine detail")
    (record,) = _lines(tmp_path / "logs" / "pipeline.log")
    assert record["message"] == "fine detail"


@pytest.mark.parametrize("level", ["LOUD", None, 2.5, True])
def test_an_unknown_level_is_a_clear_error(tmp_path: Path, level: object) -> None:
    with pytest.raises(InvalidHandlerArgumentError, match="level"):
        PipelineLogger(tmp_path / "logs", level=level)  # type: ignore[arg-type]


def test_a_pipeline_takes_a_level_name(tmp_path: Path) -> None:
    pipeline = Pipeline("etl", checkpoints=False, log_dir=tmp_path / "logs", level="DEBUG")
    with pipeline, pipeline.stage("extract"):
        logging.getLogger("user").debug("fine detail")
    messages = [r["message"] for r in _lines(tmp_path / "logs" / "pipeline.log")]
    assert "fine detail" in messages
