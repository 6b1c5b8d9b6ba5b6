"""Layer 3, the pipeline: ``Pipeline`` and ``Stage``, run records, configuration, stage logs,
fingerprints and the cross-run cache.

Ties the checkpoint store (:mod:`checkpointing.store`) to ``logging_ext``.
"""

from __future__ import annotations

from checkpointing.pipeline._cache import invalidate_cache
from checkpointing.pipeline._config import ConfigError
from checkpointing.pipeline._pipeline import Pipeline
from checkpointing.pipeline._stage import Stage, StageState

__all__ = ["ConfigError", "Pipeline", "Stage", "StageState", "invalidate_cache"]
