"""Validation of the names that become file names, and generation of checkpoint ids."""

from __future__ import annotations

import os
import threading
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from checkpointing._errors import InvalidNameError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["validate_name"]

MAX_NAME_LENGTH = 200
# A file name may hold 255 bytes; the longest we create is the data file's temporary name,
# ".tmp-<id>.parquet-<16 hex>", 30 bytes more than the id.
_MAX_ID_BYTES = 255 - len(".tmp-") - len(".parquet-") - 16
_TIMESTAMP_FORMAT = "%Y%m%dT%H%M%S%fZ"


def validate_name(value: object, *, what: str = "pipeline_id") -> str:
    """Check that ``value`` can safely be part of a file name in the checkpoint directory.

    Rules: a ``str``; non-empty; at most 200 characters; no ``/``, ``\\``, NUL or other control
    or format character; not ``.`` or ``..`` and no ``..`` anywhere; no leading ``.`` or ``-``;
    no leading or trailing whitespace.

    Args:
        value: The candidate name.
        what: What the name is (``"pipeline_id"``, ``"stage"``, ...), used in the message.

    Returns:
        ``value`` unchanged.

    Raises:
        InvalidNameError: ``value`` breaks one of the rules (also a ``ValueError``).
    """
    if not isinstance(value, str):
        raise InvalidNameError(repr(value), f"{what} must be a str, not {type(value).__name__}")
    reason = _broken_rule(value)
    if reason is not None:
        raise InvalidNameError(value, f"{what} {reason}")
    return value


_RULES: tuple[tuple[Callable[[str], bool], str], ...] = (
    (lambda v: not v, "must not be empty"),
    (lambda v: len(v) > MAX_NAME_LENGTH, f"must be at most {MAX_NAME_LENGTH} characters"),
    (lambda v: "/" in v or "\\" in v, "must not contain a path separator"),
    (
        lambda v: any(unicodedata.category(ch) in ("Cc", "Cf") for ch in v),
        "must not contain NUL, control or format characters",
    ),
    (lambda v: ".." in v, "must not contain '..'"),
    (lambda v: v[0] in ".-", "must not start with '.' or '-'"),
    (lambda v: v != v.strip(), "must not start or end with whitespace"),
)


def _broken_rule(value: str) -> str | None:
    for broken, reason in _RULES:
        if broken(value):
            return reason
    return None


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
    validate_name(pipeline_id, what="pipeline_id")
    validate_name(stage, what="stage")
    when = _next_timestamp()
    checkpoint_id = (
        f"{pipeline_id}_{stage}_{when.strftime(_TIMESTAMP_FORMAT)}_{os.urandom(4).hex()}"
    )
    if len(checkpoint_id.encode("utf-8")) > _MAX_ID_BYTES:
        raise InvalidNameError(
            f"{pipeline_id}_{stage}",
            "pipeline_id and stage together are too long for a file name "
            f"(at most {_MAX_ID_BYTES - 32} bytes of UTF-8 together)",
        )
    return checkpoint_id, when
