"""Layer 5, ``python -m checkpointing``: argument parsing and printing; every command calls the
public API."""

from __future__ import annotations

from checkpointing.cli._main import main

__all__ = ["main"]
