"""Strict JSON parsing for tests: the log and manifest formats never hold NaN or Infinity."""

from __future__ import annotations

import json
from typing import Any


def _refuse(constant: str) -> Any:
    raise AssertionError(f"non-strict JSON constant {constant}")


def loads_strict(text: str | bytes) -> Any:
    """``json.loads`` that fails the test on ``NaN``, ``Infinity`` or ``-Infinity``."""
    return json.loads(text, parse_constant=_refuse)
