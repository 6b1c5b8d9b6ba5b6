"""Verified, crash-safe Parquet checkpoints and restartable pipelines for pandas.

Public names are re-exported here; import them from ``checkpointing``, never from a private
module.
"""

from __future__ import annotations

from checkpointing._errors import (
    CheckpointDecodeError,
    CheckpointError,
    CheckpointNotFoundError,
    IntegrityError,
    InvalidNameError,
    LockTimeoutError,
)
from checkpointing.pipeline._config import ConfigError
from checkpointing.pipeline._pipeline import Pipeline
from checkpointing.pipeline._runs import RunNotFoundError
from checkpointing.pipeline._stage import Stage, StageState
from checkpointing.storage._names import validate_name
from checkpointing.store._diff import CheckpointDiff, ColumnDiff, diff_checkpoints, diff_frames
from checkpointing.store._manager import CheckpointManager

__all__: list[str] = [
    "CheckpointDecodeError",
    "CheckpointDiff",
    "CheckpointError",
    "CheckpointManager",
    "CheckpointNotFoundError",
    "ColumnDiff",
    "ConfigError",
    "IntegrityError",
    "InvalidNameError",
    "LockTimeoutError",
    "Pipeline",
    "RunNotFoundError",
    "Stage",
    "StageState",
    "diff_checkpoints",
    "diff_frames",
    "validate_name",
]
