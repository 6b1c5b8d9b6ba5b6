"""Validation of the names that become file names: nothing escapes its directory."""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from typing import TYPE_CHECKING

from checkpointing._errors import InvalidNameError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["validate_name"]

MAX_NAME_LENGTH = 200
_ASCII_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f]")
# Most names: ASCII letters, digits, "_" and "-", with single dots between non-empty parts.
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_\-]*(?:\.[A-Za-z0-9_\-]+)*")


@functools.cache
def _forbidden() -> re.Pattern[str]:
    """Every control (Cc) and format (Cf) character of this Python's Unicode, as one class.

    Built once, on the first name that is not ASCII (about 0.1 s): a regex search is one C call
    per name instead of one ``unicodedata.category`` call per character.
    """
    ranges: list[list[int]] = []
    for code in range(sys.maxunicode + 1):
        if unicodedata.category(chr(code)) in ("Cc", "Cf"):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    body = "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in ranges
    )
    return re.compile(f"[{body}]")


def _has_control_or_format(value: str) -> bool:
    if value.isascii():
        return _ASCII_FORBIDDEN.search(value) is not None
    return _forbidden().search(value) is not None


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
    if isinstance(value, str) and len(value) <= MAX_NAME_LENGTH and _PLAIN.fullmatch(value):
        return value  # passes every rule below, checked in one C call
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
    (_has_control_or_format, "must not contain NUL, control or format characters"),
    (lambda v: ".." in v, "must not contain '..'"),
    (lambda v: v[0] in ".-", "must not start with '.' or '-'"),
    (lambda v: v != v.strip(), "must not start or end with whitespace"),
)


def _broken_rule(value: str) -> str | None:
    for broken, reason in _RULES:
        if broken(value):
            return reason
    return None
