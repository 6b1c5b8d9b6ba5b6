"""Verified, crash-safe Parquet checkpoints and restartable pipelines for pandas.

Public names are re-exported here; import them from ``checkpointing``, never from a private
module. The package is layered (see docs/architecture.md): ``storage`` (bytes on disk) <
``store`` (checkpoints) < ``pipeline`` (runs and stages) < ``cli``.
"""

from __future__ import annotations

from checkpointing._errors import (
    AmbiguousIdError,
    CheckpointDecodeError,
    CheckpointError,
    CheckpointNotFoundError,
    FingerprintError,
    IntegrityError,
    InvalidNameError,
    ItemNotFoundError,
    LockTimeoutError,
    MapError,
    NotPicklableError,
    RunNotFoundError,
    RunRecordError,
    RunUnavailableError,
    StageIdentityError,
    StorageError,
)
from checkpointing.pipeline import (
    Attempt,
    ConfigError,
    Pipeline,
    RunInfo,
    Stage,
    StageExecution,
    StageState,
    get_run,
    invalidate_cache,
    list_runs,
)
from checkpointing.report import render_report, write_report
from checkpointing.storage import validate_name
from checkpointing.store import (
    CheckpointDiff,
    CheckpointManager,
    ColumnDiff,
    CompactionResult,
    diff_checkpoints,
    diff_frames,
)

__all__: list[str] = [
    "AmbiguousIdError",
    "Attempt",
    "CheckpointDecodeError",
    "CheckpointDiff",
    "CheckpointError",
    "CheckpointManager",
    "CheckpointNotFoundError",
    "ColumnDiff",
    "CompactionResult",
    "ConfigError",
    "FingerprintError",
    "IntegrityError",
    "InvalidNameError",
    "ItemNotFoundError",
    "LockTimeoutError",
    "MapError",
    "NotPicklableError",
    "Pipeline",
    "RunInfo",
    "RunNotFoundError",
    "RunRecordError",
    "RunUnavailableError",
    "Stage",
    "StageExecution",
    "StageIdentityError",
    "StageState",
    "StorageError",
    "diff_checkpoints",
    "diff_frames",
    "get_run",
    "invalidate_cache",
    "list_runs",
    "render_report",
    "validate_name",
    "write_report",
]
