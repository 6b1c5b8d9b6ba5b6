"""How a fan-out's tasks reach an executor: in-process, a ``concurrent.futures.Executor``, Dask.

Each runner submits the tasks, yields them as they complete and cancels those still pending.
None of them schedules anything itself: the executor does. Dask (``distributed``) is never
imported here: a ``distributed.Client`` can only exist once the user imported it, so it is
recognised through ``sys.modules`` and ``import checkpointing`` stays free of it.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import hashlib
import pickle
import sys
from typing import TYPE_CHECKING, Any

from checkpointing._errors import NotPicklableError
from checkpointing.pipeline._map_worker import ItemOutcome, MapTask, run_item

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__: list[str] = []

Call = tuple[str, Any, dict[str, Any] | None]
"""``(key, item, fingerprint)`` of one task: what :func:`run_item` gets besides the task."""

Completed = tuple[int, ItemOutcome | None, BaseException | None]
"""``(index, outcome, error)``: the task's outcome, or the error that lost it (a dead worker,
a broken pool, a cancellation)."""


class Runner:
    """Runs the tasks in the calling thread, one after another (``executor=None``).

    Args:
        task: What every item needs.
        calls: The calls, in submission order.
    """

    kind = "in-process"

    def __init__(self, task: MapTask, calls: list[Call]) -> None:
        self.task = task
        self.calls = calls
        self.fn = functools.partial(run_item, task)
        self.attempt = 0
        """The run's attempt number; set by the driver once the attempt has started."""

    def check_picklable(self) -> None:
        """Raise :class:`NotPicklableError` if a task cannot reach the executor's workers."""

    def completed(self) -> Iterator[Completed]:
        """Submit the tasks and yield each as it completes."""
        for index, call in enumerate(self.calls):
            yield index, self.fn(*call), None

    def cancel(self) -> None:
        """Cancel the tasks that have not started (in-process, none runs ahead of the caller)."""

    def _check_with(self, dumps: Callable[[Any], bytes]) -> None:
        try:
            dumps(self.fn)
        except Exception as error:
            raise NotPicklableError(self.task.stage, "the function", _reason(error)) from error
        for key, item, _ in self.calls:
            try:
                dumps(item)
            except Exception as error:
                what = f"item {key!r}"
                raise NotPicklableError(self.task.stage, what, _reason(error)) from error


class ExecutorRunner(Runner):
    """Runs the tasks on a ``concurrent.futures.Executor`` (threads, processes, any other)."""

    def __init__(self, task: MapTask, calls: list[Call], executor: cf.Executor) -> None:
        super().__init__(task, calls)
        self.executor = executor
        self.kind = type(executor).__name__
        self.futures: list[cf.Future[ItemOutcome]] = []

    def check_picklable(self) -> None:
        # A process pool sends tasks with the standard pickle; threads send nothing. Other
        # executors' serialisers are unknown, so their own errors fail the items instead.
        if isinstance(self.executor, cf.ProcessPoolExecutor):
            self._check_with(pickle.dumps)

    def completed(self) -> Iterator[Completed]:
        self.futures = [self.executor.submit(self.fn, *call) for call in self.calls]
        index_of = {future: index for index, future in enumerate(self.futures)}
        for future in cf.as_completed(self.futures):
            index = index_of.pop(future)
            try:
                yield index, future.result(), None
            except Exception as error:  # the task was lost, not the item's function failing
                yield index, None, error

    def cancel(self) -> None:
        for future in self.futures:
            future.cancel()


class DaskRunner(Runner):
    """Runs the tasks on a Dask cluster through a ``distributed.Client``.

    Task keys are deterministic: the same run, attempt, fan-out call and item give the same
    key, so a task Dask runs again (its worker died) is the same task, and its commit is
    decided by the create-if-absent record, never twice.
    """

    kind = "dask"

    def __init__(self, task: MapTask, calls: list[Call], client: Any, *, call: int) -> None:
        super().__init__(task, calls)
        self.client = client
        self.call = call
        self.pending: dict[Any, int] = {}

    def check_picklable(self) -> None:
        import cloudpickle  # a dependency of distributed

        self._check_with(cloudpickle.dumps)

    def completed(self) -> Iterator[Completed]:
        from distributed import as_completed

        if not self.calls:
            return
        keys, items, fingerprints = (list(column) for column in zip(*self.calls, strict=True))
        names = [_task_key(self.task, self.attempt, self.call, key) for key in keys]
        futures = self.client.map(
            self.fn, keys, items, fingerprints, key=names, pure=False, retries=0
        )
        self.pending = {future: index for index, future in enumerate(futures)}
        del futures
        for future in as_completed(list(self.pending)):  # type: ignore[no-untyped-call]
            index = self.pending.pop(future)
            try:
                outcome = future.result()
            except Exception as error:  # KilledWorker, CancelledError, ...
                yield index, None, error
            else:
                yield index, outcome, None
            finally:
                future.release()  # the worker may drop the result now

    def cancel(self) -> None:
        if self.pending:
            self.client.cancel(list(self.pending))


def runner_for(executor: object, task: MapTask, calls: list[Call], *, call: int) -> Runner:
    """The runner of ``executor``: ``None``, a ``concurrent.futures.Executor`` or a Dask client.

    Raises:
        TypeError: ``executor`` is none of these.
    """
    if executor is None:
        return Runner(task, calls)
    if isinstance(executor, cf.Executor):
        return ExecutorRunner(task, calls, executor)
    distributed = sys.modules.get("distributed")
    if distributed is not None and isinstance(executor, distributed.Client):
        return DaskRunner(task, calls, executor, call=call)
    msg = (
        "executor must be None, a concurrent.futures.Executor or a dask.distributed.Client "
        f"(pip install 'stagepoint[dask]'), not {type(executor).__name__}"
    )
    raise TypeError(msg)


def _task_key(task: MapTask, attempt: int, call: int, key: str) -> str:
    identity = f"{task.pipeline_id}\0{attempt}\0{call}\0{task.stage}\0{key}"
    return f"{task.stage}-{hashlib.sha256(identity.encode()).hexdigest()[:32]}"


def _reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"
