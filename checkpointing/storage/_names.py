"""Validation of the names that become file names: nothing escapes its directory."""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

from checkpointing._errors import InvalidNameError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["validate_name"]

MAX_NAME_LENGTH = 200


def validate_name(value: object, *, what: str = "pipeline_id") -> str:
    """Check that ``value`` can safely be part of a file name in the checkpoint directory.

    Rules: a ``str`` encodable as UTF-8; non-empty; at most 200 characters; no ``/``,
    ``\\``, NUL or other control or format character; not ``.`` or ``..`` and no ``..``
    anywhere; no leading ``.`` or ``-``;
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
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidNameError(
            repr(value), f"{what} must be encodable as UTF-8 (no lone surrogates)"
        ) from None
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
