"""Verified, crash-safe Parquet checkpoints and restartable pipelines for pandas.

Public names are re-exported here; import them from ``checkpointing``, never from a private
module. The package is layered (see docs/architecture.md): ``storage`` (bytes on disk) <
``store`` (checkpoints) < ``pipeline`` (runs and stages) < ``cli``.
"""

from __future__ import annotations

from checkpointing._errors import (
    CheckpointError,
    CheckpointNotFoundError,
    FingerprintError,
    IntegrityError,
    InvalidNameError,
    LockTimeoutError,
    RunNotFoundError,
    RunRecordError,
    RunUnavailableError,
    StageIdentityError,
)
from checkpointing.pipeline import ConfigError, Pipeline, Stage, StageState, invalidate_cache
from checkpointing.storage import validate_name
from checkpointing.store import (
    CheckpointDiff,
    CheckpointManager,
    ColumnDiff,
    diff_checkpoints,
    diff_frames,
)

__all__: list[str] = [
    "CheckpointDiff",
    "CheckpointError",
    "CheckpointManager",
    "CheckpointNotFoundError",
    "ColumnDiff",
    "ConfigError",
    "FingerprintError",
    "IntegrityError",
    "InvalidNameError",
    "LockTimeoutError",
    "Pipeline",
    "RunNotFoundError",
    "RunRecordError",
    "RunUnavailableError",
    "Stage",
    "StageIdentityError",
    "StageState",
    "diff_checkpoints",
    "diff_frames",
    "invalidate_cache",
    "validate_name",
]
