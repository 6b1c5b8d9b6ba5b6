"""Verified, crash-safe Parquet checkpoints and restartable pipelines for pandas.

Public names are re-exported here; import them from ``checkpointing``, never from a private
module.
"""

from __future__ import annotations

__all__: list[str] = []
