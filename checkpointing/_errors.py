"""The errors of the checkpoint store.

Every error raised on purpose by ``checkpointing`` derives from :class:`CheckpointError` and from
the builtin it resembles, so callers may catch either::

    Exception
    └── CheckpointError
        ├── IntegrityError           (also ValueError)   stored bytes do not match the manifest
        ├── CheckpointDecodeError    (also ValueError)   intact bytes that cannot become the data
        ├── CheckpointNotFoundError  (also KeyError)     no checkpoint with that id
        ├── InvalidNameError         (also ValueError)   a pipeline id, stage or id is unusable
        ├── ItemNotFoundError        (also KeyError)     no committed item with that stage and key
        ├── LockTimeoutError         (also TimeoutError) the registry lock could not be taken
        ├── MapError                 (also RuntimeError) items of a fan-out failed or did not run
        ├── NotPicklableError        (also TypeError)    a fan-out's task cannot reach its workers
        ├── RunNotFoundError         (also KeyError)     no run record with that pipeline id
        ├── RunRecordError           (also ValueError)   a run record is unreadable or malformed
        ├── RunUnavailableError      (also RuntimeError) a run completed or a live process runs it
        ├── StageIdentityError       (also ValueError)   a stage execution cannot be told apart
        ├── StorageError             (also OSError)      the storage backend refused or failed
        ├── AmbiguousIdError         (also ValueError)   a short id prefix matches several ids
        └── FingerprintError         (also TypeError)    a stage input cannot be fingerprinted

All of them carry their data as attributes and survive pickling, so they cross process
boundaries intact.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

__all__ = [
    "AmbiguousIdError",
    "CheckpointDecodeError",
    "CheckpointError",
    "CheckpointNotFoundError",
    "FingerprintError",
    "IntegrityError",
    "InvalidNameError",
    "ItemNotFoundError",
    "LockTimeoutError",
    "MapError",
    "NotPicklableError",
    "RunNotFoundError",
    "RunRecordError",
    "RunUnavailableError",
    "StageIdentityError",
    "StorageError",
]


class CheckpointError(Exception):
    """Base class of every error the checkpoint store raises on purpose."""


class IntegrityError(CheckpointError, ValueError):
    """A checkpoint's stored bytes are damaged: wrong checksum, truncated, swapped or unreadable.

    Wrong data is never returned: loading a damaged checkpoint raises this instead.

    Attributes:
        checkpoint_id: The checkpoint that failed verification.
        path: The file that failed (data file or manifest).
        reason: What was found wrong, in a few words.
    """

    def __init__(self, checkpoint_id: str, path: str | Path, reason: str) -> None:
        super().__init__(f"checkpoint {checkpoint_id!r} failed verification ({path}): {reason}")
        self.checkpoint_id = checkpoint_id
        self.path = str(path)
        self.reason = reason

    def __reduce__(self) -> tuple[type[IntegrityError], tuple[str, str, str]]:
        return type(self), (self.checkpoint_id, self.path, self.reason)


class CheckpointDecodeError(CheckpointError, ValueError):
    """A checkpoint's data file is intact (its checksum matches) but cannot be decoded.

    Never a sign of damage: the bytes are exactly those written. The file was written by a
    newer version of the store, or needs a dtype this pandas or pyarrow lacks. The data file
    is plain Parquet and can still be read with ``pandas.read_parquet``.

    Attributes:
        checkpoint_id: The checkpoint that could not be decoded.
        path: Its data file.
        reason: What failed, in a few words.
    """

    def __init__(self, checkpoint_id: str, path: str | Path, reason: str) -> None:
        super().__init__(
            f"checkpoint {checkpoint_id!r} is intact but cannot be decoded ({path}): {reason}"
        )
        self.checkpoint_id = checkpoint_id
        self.path = str(path)
        self.reason = reason

    def __reduce__(self) -> tuple[type[CheckpointDecodeError], tuple[str, str, str]]:
        return type(self), (self.checkpoint_id, self.path, self.reason)


class CheckpointNotFoundError(CheckpointError, KeyError):
    """No checkpoint with the requested id exists (no manifest on disk).

    Attributes:
        checkpoint_id: The id that was asked for.
    """

    def __init__(self, checkpoint_id: str) -> None:
        super().__init__(f"no checkpoint with id {checkpoint_id!r}")
        self.checkpoint_id = checkpoint_id

    def __reduce__(self) -> tuple[type[CheckpointNotFoundError], tuple[str]]:
        return type(self), (self.checkpoint_id,)

    def __str__(self) -> str:
        # KeyError would quote the message; keep it readable.
        return str(self.args[0])


class InvalidNameError(CheckpointError, ValueError):
    """A pipeline id, stage name or checkpoint id cannot be used as part of a file name.

    Attributes:
        name: The rejected value (``repr`` of it when it is not a string).
        reason: Which rule it breaks.
    """

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"invalid name {name!r}: {reason}")
        self.name = name
        self.reason = reason

    def __reduce__(self) -> tuple[type[InvalidNameError], tuple[str, str]]:
        return type(self), (self.name, self.reason)


class ItemNotFoundError(CheckpointError, KeyError):
    """No item with this stage and key was committed in the run (see ``Pipeline.load``).

    Attributes:
        pipeline_id: The run that was searched.
        stage: The stage name.
        key: The item key.
    """

    def __init__(self, pipeline_id: str, stage: str, key: str) -> None:
        super().__init__(f"no committed item {key!r} of stage {stage!r} in run {pipeline_id!r}")
        self.pipeline_id = pipeline_id
        self.stage = stage
        self.key = key

    def __reduce__(self) -> tuple[type[ItemNotFoundError], tuple[str, str, str]]:
        return type(self), (self.pipeline_id, self.stage, self.key)

    def __str__(self) -> str:
        return str(self.args[0])


class LockTimeoutError(CheckpointError, TimeoutError):
    """The registry lock was not acquired within the timeout.

    Another process holds the lock (a long compaction, a stuck process) or a lock file was left
    behind on a filesystem whose locks outlive their holder. Check that no process of the
    pipeline is still running, then delete the lock file named in the message and retry.

    Attributes:
        path: The lock file.
        timeout: The seconds waited.
    """

    def __init__(self, path: str | Path, timeout: float) -> None:
        super().__init__(
            f"could not lock {path} within {timeout:g} s: another process holds it; if no "
            f"process using this checkpoint directory is running, delete {path} and retry"
        )
        self.path = str(path)
        self.timeout = timeout

    def __reduce__(self) -> tuple[type[LockTimeoutError], tuple[str, float]]:
        return type(self), (self.path, self.timeout)


class StorageError(CheckpointError, OSError):
    """The storage backend failed or refused a request, or cannot keep the store's guarantees.

    Raised for an object store that answered with an error other than "not found" after the
    retries its client makes (credentials, permissions, a missing bucket, a network failure), for
    a store that does not honour conditional writes, and for a store URL whose backend is not
    installed. The message names the store and the operation; the original error is chained.

    Attributes:
        location: The store (URL or directory) or object concerned.
        reason: What failed.
    """

    def __init__(self, location: str, reason: str) -> None:
        super().__init__(f"{location}: {reason}")
        self.location = location
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.location}: {self.reason}"

    def __reduce__(self) -> tuple[type[StorageError], tuple[str, str]]:
        return type(self), (self.location, self.reason)


class MapError(CheckpointError, RuntimeError):
    """Items of a ``Pipeline.map`` fan-out failed, or did not run because the fan-out stopped.

    Raised once every item has finished (or, with ``fail_fast=True``, at the first failure);
    the first item's error is chained as ``__cause__``. Items that completed are committed:
    a resumed run restores them and runs only the failed and missing ones.

    Attributes:
        stage: The stage name.
        failed: Keys of the items whose function raised or whose task was lost, in item order.
        not_run: Keys of the items cancelled before they ran (``fail_fast``), in item order.
        total: How many items the fan-out had.
    """

    def __init__(
        self, stage: str, failed: tuple[str, ...], not_run: tuple[str, ...], total: int
    ) -> None:
        shown = ", ".join(failed[:10]) + (f", ... ({len(failed) - 10} more)" if failed[10:] else "")
        message = f"{len(failed)} of {total} items of stage {stage!r} failed: {shown}"
        if not_run:
            message += f"; {len(not_run)} did not run"
        super().__init__(message)
        self.stage = stage
        self.failed = tuple(failed)
        self.not_run = tuple(not_run)
        self.total = total

    def __reduce__(
        self,
    ) -> tuple[type[MapError], tuple[str, tuple[str, ...], tuple[str, ...], int]]:
        return type(self), (self.stage, self.failed, self.not_run, self.total)


class NotPicklableError(CheckpointError, TypeError):
    """The function or an item of a fan-out cannot be sent to the executor's workers.

    Raised by ``Pipeline.map`` before any item runs.

    Attributes:
        stage: The stage name.
        what: ``"the function"`` or ``"item <key>"``.
        reason: The serializer's complaint.
    """

    def __init__(self, stage: str, what: str, reason: str) -> None:
        super().__init__(
            f"stage {stage!r}: {what} cannot be sent to the workers ({reason}); define "
            "functions at module level in an importable module and pass picklable items"
        )
        self.stage = stage
        self.what = what
        self.reason = reason

    def __reduce__(self) -> tuple[type[NotPicklableError], tuple[str, str, str]]:
        return type(self), (self.stage, self.what, self.reason)


class RunNotFoundError(CheckpointError, KeyError):
    """No run record exists for the requested pipeline id.

    Attributes:
        pipeline_id: The id that was asked for.
    """

    def __init__(self, pipeline_id: str) -> None:
        super().__init__(f"no run record for pipeline id {pipeline_id!r}")
        self.pipeline_id = pipeline_id

    def __reduce__(self) -> tuple[type[RunNotFoundError], tuple[str]]:
        return type(self), (self.pipeline_id,)

    def __str__(self) -> str:
        return str(self.args[0])


class RunRecordError(CheckpointError, ValueError):
    """A run record exists but cannot be used: not strict JSON, or a field of the wrong type.

    Attributes:
        pipeline_id: The run whose record is bad.
        path: The record file.
        reason: What is wrong with it.
    """

    def __init__(self, pipeline_id: str, path: str | Path, reason: str) -> None:
        super().__init__(f"run record of {pipeline_id!r} is unusable ({path}): {reason}")
        self.pipeline_id = pipeline_id
        self.path = str(path)
        self.reason = reason

    def __reduce__(self) -> tuple[type[RunRecordError], tuple[str, str, str]]:
        return type(self), (self.pipeline_id, self.path, self.reason)


class RunUnavailableError(CheckpointError, RuntimeError):
    """A run cannot be continued: it completed, or a live process is running it.

    Exactly one process continues a run, and a run that completed is never resumed; start a
    new run instead (``Pipeline(name)`` without ``pipeline_id``).

    Attributes:
        pipeline_id: The run asked for.
        reason: Why it cannot be continued.
    """

    def __init__(self, pipeline_id: str, reason: str) -> None:
        super().__init__(f"run {pipeline_id!r} cannot be continued: {reason}")
        self.pipeline_id = pipeline_id
        self.reason = reason

    def __reduce__(self) -> tuple[type[RunUnavailableError], tuple[str, str]]:
        return type(self), (self.pipeline_id, self.reason)


class StageIdentityError(CheckpointError, ValueError):
    """Which earlier execution a stage corresponds to cannot be decided, so nothing is guessed.

    Raised when a stage ``key`` is used twice in one run, or when a resumed run's record holds
    several executions of a stage name without the occurrence that tells them apart.

    Attributes:
        stage: The stage name.
        reason: What is ambiguous.
    """

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(f"stage {stage!r}: {reason}")
        self.stage = stage
        self.reason = reason

    def __reduce__(self) -> tuple[type[StageIdentityError], tuple[str, str]]:
        return type(self), (self.stage, self.reason)


class AmbiguousIdError(CheckpointError, ValueError):
    """A short id prefix matches several ids, so none is picked; give more characters.

    Attributes:
        prefix: The prefix that was given.
        matches: The ids it matches, sorted.
        what: What kind of id it is (``"run"``, ``"checkpoint"``).
    """

    def __init__(self, prefix: str, matches: Sequence[str], what: str) -> None:
        found = tuple(sorted(matches))
        more = f" and {len(found) - 5} more" if len(found) > 5 else ""
        super().__init__(
            f"{what} id prefix {prefix!r} is ambiguous: it matches {', '.join(found[:5])}{more}"
        )
        self.prefix = prefix
        self.matches = found
        self.what = what

    def __reduce__(self) -> tuple[type[AmbiguousIdError], tuple[str, tuple[str, ...], str]]:
        return type(self), (self.prefix, self.matches, self.what)


class FingerprintError(CheckpointError, TypeError):
    """A stage input has no faithful fingerprint, so caching it would risk a wrong hit.

    Inputs may be DataFrames, Series, pyarrow Tables, JSON-able parameters (with dates,
    decimals, paths, numpy values), functions, and tuples, lists or dicts of them. Anything
    else (an open connection, an arbitrary object) needs ``cache_key=``: a string you change
    when that input changes, or a function that maps it to something that can be hashed.

    Attributes:
        stage: The stage name.
        input: Which input (its name or position, ``"prices.0"`` inside a container).
        reason: What could not be hashed.
    """

    def __init__(self, stage: str, input: str, reason: str) -> None:
        super().__init__(
            f"stage {stage!r}: input {input!r}: {reason}; pass it as a DataFrame, Table, "
            "JSON-able parameter or function, or give the stage cache_key= (a string you "
            "change when it changes, or a function mapping it to such a value)"
        )
        self.stage = stage
        self.input = input
        self.reason = reason

    def __reduce__(self) -> tuple[type[FingerprintError], tuple[str, str, str]]:
        return type(self), (self.stage, self.input, self.reason)
