"""Helpers for tests that run a real ``python -m ...`` process."""

from __future__ import annotations

import os
import subprocess
import sys


def run_with_reader_gone(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python *args`` with a stdout pipe whose reader closed before the first write.

    This is what ``python -m tool ... | head -1`` does once ``head`` has exited.
    """
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    finally:
        os.close(write_end)
