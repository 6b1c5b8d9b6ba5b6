"""Layer 2, the checkpoint store: manager, registry, manifests, codec, ids, diff and
compaction.

Talks to the filesystem only through :mod:`checkpointing.storage`; never imports the pipeline
layer or ``logging_ext`` (it logs through ``logging.getLogger(__name__)`` like any library).
"""

from __future__ import annotations

from checkpointing.store._compact import CompactionResult
from checkpointing.store._diff import diff_checkpoints, diff_frames
from checkpointing.store._diff_result import CheckpointDiff, ColumnDiff
from checkpointing.store._manager import CheckpointManager

__all__ = [
    "CheckpointDiff",
    "CheckpointManager",
    "ColumnDiff",
    "CompactionResult",
    "diff_checkpoints",
    "diff_frames",
]
