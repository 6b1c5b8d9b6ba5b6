"""Strict JSON, as every backend writes and reads it: no NaN or Infinity, UTF-8, one newline."""

from __future__ import annotations

import json
from typing import Any

__all__: list[str] = []


def json_bytes(obj: Any) -> bytes:
    """``obj`` as strict JSON (``ValueError`` for NaN and Infinity), indented, UTF-8, with a final
    newline: what a manifest, a run record or a cache entry looks like on disk."""
    return json.dumps(obj, ensure_ascii=False, allow_nan=False, indent=1).encode("utf-8") + b"\n"


def json_loads(data: bytes | str) -> Any:
    """The value of strict JSON ``data``; ValueError for anything else, ``NaN`` and ``Infinity``
    included (they could not be written back)."""
    return json.loads(data, parse_constant=_reject_constant)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not strict JSON")
