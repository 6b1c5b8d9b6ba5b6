"""``python -m logging_ext``: see :func:`logging_ext.main`."""

from __future__ import annotations

import sys

from logging_ext._cli import main

if __name__ == "__main__":
    sys.exit(main())
