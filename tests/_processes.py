"""Helpers for tests that run a real ``python -m ...`` process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def checkpointing_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m checkpointing *argv`` from the repository root; its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "checkpointing", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


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
