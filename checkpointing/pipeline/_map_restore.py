"""Resume of a fan-out: find each item's committed checkpoint; load one item later.

An item's checkpoint is found in the run record (the driver records items as they complete)
or, when the driver stopped before recording it, in the item's commit record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from checkpointing._errors import CheckpointNotFoundError, IntegrityError, ItemNotFoundError
from checkpointing.pipeline import _items
from checkpointing.storage._names import validate_name

if TYPE_CHECKING:
    from checkpointing.pipeline._map_worker import MapTask
    from checkpointing.pipeline._run import RunTracker
    from checkpointing.store._manager import CheckpointManager

__all__: list[str] = []


def restore_item(
    manager: CheckpointManager, task: MapTask, key: str, recorded: list[str]
) -> tuple[tuple[str, Any, int, bool] | None, list[str]]:
    """Find the item's committed checkpoint: from the run record, else its commit record.

    Each candidate is loaded (and so verified) when the fan-out collects data, else its manifest
    is read; a checkpoint must name this run, stage and key. A commit record whose checkpoint
    is gone or damaged is removed, so the item's rerun can commit (the run's owner alone runs
    this, before the rerun is submitted).

    Returns:
        ``((checkpoint id, data or id, rows, found only by its commit record) or None,
        why candidates were passed over)``.
    """
    storage = manager.storage
    failures: list[str] = []
    commit_id = _items.committed(storage, task.pipeline_id, task.stage, key)
    candidates = list(recorded)
    if commit_id is not None and commit_id not in candidates:
        candidates.append(commit_id)
    for checkpoint_id in candidates:
        try:
            if task.collect:
                loaded = manager.load_checkpoint(checkpoint_id)
                state, data = loaded["state"], loaded["data"]
            else:
                state, data = manager.get_state(checkpoint_id), checkpoint_id
        except IntegrityError as error:
            failures.append(f"checkpoint {checkpoint_id} failed verification: {error.reason}")
            continue
        except CheckpointNotFoundError:
            failures.append(f"checkpoint {checkpoint_id} not found")
            continue
        if not belongs(state, task.pipeline_id, task.stage, key):
            failures.append(f"checkpoint {checkpoint_id} belongs to another item")
            continue
        from_commit = checkpoint_id not in recorded
        return (checkpoint_id, data, int(state["rows"]), from_commit), failures
    if commit_id is not None:  # its checkpoint is gone or damaged: let the rerun commit
        _items.uncommit(storage, task.pipeline_id, task.stage, key)
    return None, failures


def belongs(state: dict[str, Any], pipeline_id: str, stage: str, key: str) -> bool:
    """Whether a manifest is that of this run's item ``key`` of ``stage``."""
    metadata = state.get("metadata") if isinstance(state.get("metadata"), dict) else {}
    assert isinstance(metadata, dict)
    return (state["pipeline_id"], state["stage"], metadata.get("key", key)) == (
        pipeline_id,
        stage,
        key,
    )


def load_item(run: RunTracker, manager: CheckpointManager | None, stage: str, key: str) -> Any:
    """See :meth:`checkpointing.Pipeline.load`."""
    if manager is None:
        raise RuntimeError("checkpoints are disabled: there is nothing to load")
    validate_name(stage, what="stage")
    validate_name(key, what="item key")
    ids = run.keyed_candidates(stage).get(key, [])
    if not ids:
        committed = _items.committed(manager.storage, run.pipeline_id, stage, key)
        ids = [] if committed is None else [committed]
    if not ids:
        raise ItemNotFoundError(run.pipeline_id, stage, key)
    loaded = manager.load_checkpoint(ids[0])
    if not belongs(loaded["state"], run.pipeline_id, stage, key):
        path = manager.checkpoint_dir / f"{ids[0]}.json"
        raise IntegrityError(ids[0], path, f"it is not item {key!r} of stage {stage!r}")
    return loaded["data"]
