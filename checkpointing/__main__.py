"""Entry point of ``python -m checkpointing``."""

from __future__ import annotations

from checkpointing.cli._main import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
