"""Entry point of ``python -m checkpointing``."""

from __future__ import annotations

from checkpointing._cli import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
