"""Layer 3, the pipeline: ``Pipeline`` and ``Stage``, run records, configuration, stage logs,
fingerprints and the cross-run cache.

Ties the checkpoint store (:mod:`checkpointing.store`) to ``logging_ext``.
"""

from __future__ import annotations

from checkpointing.pipeline._cache import invalidate_cache
from checkpointing.pipeline._config import ConfigError
from checkpointing.pipeline._pipeline import Pipeline
from checkpointing.pipeline._run_model import Attempt, RunInfo, StageExecution
from checkpointing.pipeline._run_query import get_run, list_runs
from checkpointing.pipeline._stage import Stage, StageState

__all__ = [
    "Attempt",
    "ConfigError",
    "Pipeline",
    "RunInfo",
    "Stage",
    "StageExecution",
    "StageState",
    "get_run",
    "invalidate_cache",
    "list_runs",
]
