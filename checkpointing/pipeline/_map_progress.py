"""The progress line of a fan-out on stderr: items done of total, failures, rate.

Drawn only when stderr is a terminal (or when asked), redrawn at most ten times a second, and
ended with a newline; nothing is written otherwise.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__: list[str] = []


class ProgressLine:
    """``<stage>: 12/500 items, 1 failed, 3.4 items/s`` redrawn in place.

    Args:
        stage: The stage name.
        total: How many items the fan-out has.
        enabled: Draw it (``None``: when stderr is a terminal).
        stream: Where to draw (default ``sys.stderr``).
    """

    def __init__(
        self, stage: str, total: int, *, enabled: bool | None, stream: TextIO | None = None
    ) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.enabled = _is_terminal(self.stream) if enabled is None else enabled
        self.stage = stage
        self.total = total
        self._t0 = time.perf_counter()
        self._last = 0.0
        self._text = ""

    def update(self, done: int, failed: int) -> None:
        """Redraw with ``done`` items finished (restored included) and ``failed`` failures."""
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last < 0.1 and done + failed < self.total:
            return
        self._last = now
        rate = done / (now - self._t0) if now > self._t0 else 0.0
        self._text = f"{self.stage}: {done}/{self.total} items"
        if failed:
            self._text += f", {failed} failed"
        self._text += f", {rate:.1f} items/s"
        self.stream.write(f"\r\x1b[2K{self._text}")
        self.stream.flush()

    def finish(self) -> None:
        """End the line (when anything was drawn)."""
        if self.enabled and self._text:
            self.stream.write("\n")
            self.stream.flush()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False
