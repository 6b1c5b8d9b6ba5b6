"""Structured JSON events on the standard logging tree, safe across processes.

Public names are re-exported here; import them from ``logging_ext``, never from a private
module.
"""

from __future__ import annotations

__all__: list[str] = []
