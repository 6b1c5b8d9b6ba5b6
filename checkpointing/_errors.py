"""The errors of the checkpoint store.

Every error raised on purpose by ``checkpointing`` derives from :class:`CheckpointError` and from
the builtin it resembles, so callers may catch either::

    Exception
    └── CheckpointError
        ├── IntegrityError           (also ValueError)   stored bytes do not match the manifest
        ├── CheckpointDecodeError    (also ValueError)   intact bytes that cannot become the data
        ├── CheckpointNotFoundError  (also KeyError)     no checkpoint with that id
        ├── InvalidNameError         (also ValueError)   a pipeline id, stage or id is unusable
        └── LockTimeoutError         (also TimeoutError) the registry lock could not be taken

All of them carry their data as attributes and survive pickling, so they cross process
boundaries intact.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "CheckpointDecodeError",
    "CheckpointError",
    "CheckpointNotFoundError",
    "IntegrityError",
    "InvalidNameError",
    "LockTimeoutError",
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
