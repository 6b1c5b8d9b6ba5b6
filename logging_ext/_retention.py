"""Deleting rotated log files older than a retention period."""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path

__all__ = ["cleanup_old_logs", "rotated_log_files"]

_ROTATED = re.compile(r"^(?P<base>[^.].*\.log)\.(?P<suffix>[^.]+)$")
_DATED = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


def rotated_log_files(log_dir: str | Path) -> list[Path]:
    """Return the rotated log files under ``log_dir`` (recursively), never the active ones.

    A rotated file is named ``<name>.log.<suffix>`` where the suffix is a number (size
    rotation: ``pipeline.log.3``) or a date (``events.log.2025-10-06``); an active file ends in
    ``.log``. Hidden files (the ``.<name>.lock`` files) are never included.
    """
    root = Path(log_dir)
    found: list[Path] = []
    for path in root.rglob("*.log.*"):
        match = _ROTATED.match(path.name)
        if match is None:
            continue
        suffix = match.group("suffix")
        if (suffix.isdigit() or _DATED.match(suffix)) and path.is_file():
            found.append(path)
    return sorted(found)


def _dated(suffix: str) -> dt.date | None:
    match = _DATED.match(suffix)
    if match is None:
        return None
    try:
        return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def cleanup_old_logs(
    log_dir: str | Path, retention_days: float, *, now: float | None = None
) -> int:
    """Delete rotated log files under ``log_dir`` older than ``retention_days``.

    A file with a date in its name (``events.log.2025-10-06``) is old when that date is before
    the cutoff's local date; any other rotated file (``pipeline.log.2``) when it was last
    modified before the cutoff. Active files (``*.log``) are never deleted. Safe to run from
    several processes at once: a file another process deleted first is skipped.

    Args:
        log_dir: The log directory (searched recursively).
        retention_days: Age in days beyond which rotated files go.
        now: The current time in epoch seconds (default: the clock).

    Returns:
        The number of files this call deleted.
    """
    cutoff = (time.time() if now is None else now) - retention_days * 86400
    cutoff_date = dt.datetime.fromtimestamp(cutoff).date()
    deleted = 0
    for path in rotated_log_files(log_dir):
        match = _ROTATED.match(path.name)
        assert match is not None
        day = _dated(match.group("suffix"))
        try:
            old = day < cutoff_date if day is not None else path.stat().st_mtime < cutoff
            if old:
                path.unlink()
                deleted += 1
        except FileNotFoundError:
            continue
    return deleted
