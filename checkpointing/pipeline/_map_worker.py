"""The worker side of ``Pipeline.map``: run one item, checkpoint it, commit it once.

:func:`run_item` is what an executor runs for each item, wherever it puts it: in the driver's
thread, a thread pool, a process pool or a Dask worker. It opens the checkpoint store itself
(from the directory and options in :class:`MapTask`, never from the driver's objects), runs the
item's function inside the item's logging context, saves the result as a checkpoint and commits
it with a create-if-absent record (:mod:`._items`), so the data becomes durable where it was
computed and an item that an executor runs twice is committed once. It never raises for the
item's own failure: the error, the item's events and its captured log records all travel back
in the :class:`ItemOutcome`, and the driver writes them to the run's logs.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import socket
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from checkpointing.pipeline import _items
from checkpointing.pipeline._map_logs import capture, forwarding_needed
from checkpointing.pipeline._run import describe_error
from checkpointing.store._manager import CheckpointManager

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__: list[str] = []

_HOST = socket.gethostname()
_MANAGERS: dict[tuple[str, str, float, str, bool], CheckpointManager] = {}
_MANAGERS_LOCK = threading.Lock()


@dataclass(frozen=True)
class MapTask:
    """What every item of one fan-out needs on a worker; sent once per task, so keep it small.

    Attributes:
        fn: The item function.
        pipeline_id: The run.
        stage: The stage name.
        checkpoint_dir: Absolute path or URL of the store every worker opens, or ``None``
            when checkpoints are disabled.
        compression: Parquet codec of the checkpoints.
        lock_timeout: Seconds to wait for the store's registry lock.
        storage_options: Options of an object store (see ``CheckpointManager``).
        unsafe_single_writer: See ``CheckpointManager``.
        metadata: Stored in every item's manifest, beside ``key``.
        collect: Return each item's data (else only its checkpoint id).
        driver_pid: The driver's process id (records of items run there need no forwarding).
        log_level: Level of the records forwarded to the driver, or ``None`` for none.
    """

    fn: Callable[[Any], Any]
    pipeline_id: str
    stage: str
    checkpoint_dir: str | None
    compression: str
    lock_timeout: float
    storage_options: dict[str, Any]
    unsafe_single_writer: bool
    metadata: dict[str, Any]
    collect: bool
    driver_pid: int
    log_level: int | None


@dataclass
class ItemOutcome:
    """What one attempt of one item produced.

    Attributes:
        key: The item key.
        checkpoint_id: The committed checkpoint (``None`` when failed or disabled).
        rows: Rows of the result.
        data: The result when the task collects, else ``None``.
        error: The item's exception (picklable; a stand-in when the original is not).
        traceback: The exception's traceback as text, as formatted on the worker.
        events: ``{"event_type", "status", "metadata", "created"}`` of the item, in order.
        records: Log records captured on the worker, as dicts (see ``_map_logs``).
        pid: The process that ran the item.
    """

    key: str
    checkpoint_id: str | None = None
    rows: int | None = None
    data: Any = None
    error: BaseException | None = None
    traceback: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    pid: int = field(default_factory=os.getpid)


class RemoteTraceback(Exception):
    """The traceback of an item's exception as formatted in the process that raised it.

    Chained as the ``__cause__`` of an exception that came back from another process, so a
    traceback printed by the driver shows where the item failed.
    """

    def __str__(self) -> str:
        return f'\n"""\n{self.args[0]}"""'


def _manager(task: MapTask) -> CheckpointManager | None:
    """This process's manager of the task's store (one per directory and options)."""
    if task.checkpoint_dir is None:
        return None
    options = (
        task.checkpoint_dir,
        task.compression,
        task.lock_timeout,
        json.dumps(task.storage_options, sort_keys=True, default=str),
        task.unsafe_single_writer,
    )
    with _MANAGERS_LOCK:
        manager = _MANAGERS.get(options)
        if manager is None:
            manager = CheckpointManager(
                task.checkpoint_dir,
                compression=task.compression,
                lock_timeout=task.lock_timeout,
                storage_options=task.storage_options,
                unsafe_single_writer=task.unsafe_single_writer,
            )
            _MANAGERS[options] = manager
        return manager


def run_item(
    task: MapTask, key: str, item: Any, fingerprint: dict[str, Any] | None = None
) -> ItemOutcome:
    """Run one item of a fan-out: call ``task.fn(item)``, checkpoint the result, commit it.

    An attempt that finds the item already committed (an earlier attempt of the same task)
    returns that checkpoint without calling the function. An attempt that loses the commit
    race deletes its own checkpoint and returns the winner's. ``fingerprint`` (the item's, with
    ``cache=True``) is stored in the checkpoint's manifest.

    Returns:
        The outcome; the function's own exception is in ``outcome.error``, never raised.
    """
    from logging_ext import log_context

    outcome = ItemOutcome(key)
    worker = f"{_HOST}:{outcome.pid}"
    started, clock, cpu = time.time(), time.perf_counter(), time.thread_time()
    start = {"key": key, "worker": worker}
    if fingerprint is not None:
        start["fingerprint"] = fingerprint["sha256"]
    _event(outcome, "stage_start", "info", start, started)
    done: dict[str, Any] = {}
    try:
        with (
            log_context(pipeline_id=task.pipeline_id, stage=task.stage, key=key),
            _captured(task, outcome),
        ):
            done = _attempt(task, key, item, fingerprint, outcome)
    except Exception as error:
        outcome.data = None
        outcome.error = _portable(error, task.driver_pid)
        outcome.traceback = "".join(traceback.format_exception(error))
        described = describe_error(error)
        details: dict[str, Any] = {"error_type": described["type"], "error": described["message"]}
        details |= {"key": key, "worker": worker}
        details["duration_seconds"] = time.perf_counter() - clock
        _event(outcome, "stage_error", "error", details, time.time())
        return outcome
    metadata: dict[str, Any] = {
        "duration_seconds": time.perf_counter() - clock,
        "cpu_seconds": time.thread_time() - cpu,
        "rows": outcome.rows,
    }
    if outcome.checkpoint_id is not None:
        metadata["checkpoint_ids"] = [outcome.checkpoint_id]
    metadata |= done | {"key": key, "worker": worker}
    _event(outcome, "stage_complete", "success", metadata, time.time())
    return outcome


def _attempt(
    task: MapTask,
    key: str,
    item: Any,
    fingerprint: dict[str, Any] | None,
    outcome: ItemOutcome,
) -> dict[str, Any]:
    """The item's work; returns extra ``stage_complete`` metadata. Raises the item's error."""
    manager = _manager(task)
    if manager is not None:
        earlier = _items.committed(manager.storage, task.pipeline_id, task.stage, key)
        if earlier is not None:
            _take(manager, task, earlier, outcome)
            return {"committed_earlier": True}
    result = task.fn(item)
    _check_result(result)
    outcome.rows = len(result)
    outcome.data = result if task.collect else None
    if manager is None:
        return {}
    own = manager.save_checkpoint(
        task.pipeline_id,
        task.stage,
        result,
        metadata=task.metadata | {"key": key},
        fingerprint=fingerprint,
    )
    _event(outcome, "checkpoint_saved", "success", {"checkpoint_id": own, "key": key})
    winner = _items.commit(manager.storage, task.pipeline_id, task.stage, key, own)
    if winner == own:
        outcome.checkpoint_id = own
        return {}
    manager.delete_checkpoint(own)  # another attempt committed first: keep only its checkpoint
    _take(manager, task, winner, outcome)
    return {"committed_by_another_attempt": True, "discarded_checkpoint": own}


def _take(manager: CheckpointManager, task: MapTask, checkpoint_id: str, out: ItemOutcome) -> None:
    """Use the committed checkpoint ``checkpoint_id`` as the item's result (loaded if needed)."""
    if task.collect:
        loaded = manager.load_checkpoint(checkpoint_id)
        out.data, state = loaded["data"], loaded["state"]
    else:
        state = manager.get_state(checkpoint_id)
    out.checkpoint_id, out.rows = checkpoint_id, int(state["rows"])


@contextlib.contextmanager
def _captured(task: MapTask, outcome: ItemOutcome) -> Iterator[None]:
    """Capture the item's records for the driver when this process cannot log them itself."""
    if task.log_level is None or not forwarding_needed(task.driver_pid):
        yield
        return
    with capture(task.log_level) as buffer:
        try:
            yield
        finally:
            outcome.records = buffer.result()


def _check_result(result: object) -> None:
    import pandas as pd
    import pyarrow as pa

    if not isinstance(result, pd.DataFrame | pa.Table):
        msg = f"the item function returned {type(result).__name__}, not a DataFrame or Table"
        raise TypeError(msg)


def _event(
    outcome: ItemOutcome,
    event_type: str,
    status: str,
    metadata: dict[str, Any],
    created: float | None = None,
) -> None:
    outcome.events.append(
        {
            "event_type": event_type,
            "status": status,
            "metadata": metadata,
            "created": time.time() if created is None else created,
        }
    )


def _portable(error: BaseException, driver_pid: int) -> BaseException:
    """``error`` itself, or a stand-in when it would not survive the trip to the driver."""
    if os.getpid() == driver_pid:
        return error
    try:
        pickle.loads(pickle.dumps(error))  # noqa: S301 (our own bytes, just made)
    except Exception:
        described = describe_error(error)
        return RuntimeError(f"{described['type']}: {described['message']} (not picklable)")
    return error
