"""Checkpoint ids: unique across processes, sorted by time within a pipeline and stage."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta

from checkpointing._errors import InvalidNameError
from checkpointing.storage._names import validate_name

__all__: list[str] = []

# A file name may hold 255 bytes; the longest we create is the data file's temporary name,
# ".tmp-<id>.parquet-<16 hex>", 30 bytes more than the id.
_MAX_ID_BYTES = 255 - len(".tmp-") - len(".parquet-") - 16
_TIMESTAMP_FORMAT = "%Y%m%dT%H%M%S%fZ"
# What an id adds after "<pipeline_id>_<stage>": "_<YYYYmmddTHHMMSSffffffZ>_<8 hex>".
_ID_SUFFIX_BYTES = 1 + 22 + 1 + 8
MAX_PREFIX_BYTES = _MAX_ID_BYTES - _ID_SUFFIX_BYTES


_lock = threading.Lock()
_last = datetime(1970, 1, 1, tzinfo=UTC)


def _next_timestamp() -> datetime:
    """The current UTC time, strictly increasing within this process."""
    global _last  # noqa: PLW0603 - one clock per process is the point
    with _lock:
        now = datetime.now(UTC)
        if now <= _last:
            now = _last + timedelta(microseconds=1)
        _last = now
        return now


def new_checkpoint_id(pipeline_id: str, stage: str) -> tuple[str, datetime]:
    """A fresh ``{pipeline_id}_{stage}_{YYYYmmddTHHMMSSffffffZ}_{8 hex}`` id and its timestamp.

    Ids of one pipeline and stage sort by time (strictly within a process); the random suffix
    keeps ids of different processes apart.

    Raises:
        InvalidNameError: A name is invalid, or both together make a file name too long.
    """
    check_id_fits(pipeline_id, stage)
    when = _next_timestamp()
    checkpoint_id = (
        f"{pipeline_id}_{stage}_{when.strftime(_TIMESTAMP_FORMAT)}_{os.urandom(4).hex()}"
    )
    return checkpoint_id, when


def check_id_fits(pipeline_id: str, stage: str) -> None:
    """Check, before any work is done, that checkpoint ids of this pipeline and stage can exist.

    Raises:
        InvalidNameError: A name is invalid, or both together are too long for a file name.
    """
    validate_name(pipeline_id, what="pipeline_id")
    validate_name(stage, what="stage")
    together = len(pipeline_id.encode("utf-8")) + 1 + len(stage.encode("utf-8"))
    if together > MAX_PREFIX_BYTES:
        raise InvalidNameError(
            f"{pipeline_id}_{stage}",
            "pipeline_id and stage together are too long for a file name "
            f"({together} bytes of UTF-8; at most {MAX_PREFIX_BYTES})",
        )
