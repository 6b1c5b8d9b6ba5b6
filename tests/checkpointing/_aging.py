"""Checkpoints made to look old: their own manifest timestamp moved into the past."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from checkpointing import CheckpointManager


def backdate(manager: CheckpointManager, checkpoint_id: str, days: float) -> None:
    """Move a checkpoint's own timestamp ``days`` into the past (the registry is not told)."""
    path = manager.checkpoint_dir / f"{checkpoint_id}.json"
    state = json.loads(path.read_text())
    state["timestamp"] = (datetime.now(UTC) - timedelta(days=days)).isoformat()
    path.write_text(json.dumps(state))


def age_checkpoint(manager: CheckpointManager, checkpoint_id: str, days: float) -> None:
    """Move a checkpoint's own timestamp into the past, then re-index."""
    backdate(manager, checkpoint_id, days)
    manager.rebuild_registry()
