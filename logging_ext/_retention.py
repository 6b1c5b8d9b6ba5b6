"""Deleting the logger's own rotated log files once they are older than a retention period.

Retention never walks a directory tree looking for anything that resembles a rotated log: a
log directory may be ``.`` or a directory shared with other programs, whose rotated logs are
none of our business. It deletes only the rotated siblings of the files the logger itself
writes, each family in the one directory where the logger writes it:

- ``<log_dir>/pipeline.log``  -> ``pipeline.log.<n>``
- ``<log_dir>/errors/errors.log``  -> ``errors.log.<n>``
- ``<log_dir>/events/events.log``  -> ``events.log.<YYYY-MM-DD>``
- ``<log_dir>/stages/<stage>.log``  -> ``<stage>.log.<n>``, only for the stages listed in
  the marker file ``stages/.stagepoint-stage-logs``, where the stage log handler records
  each stage log it writes (:func:`register_stage_log`).

With a ``namer`` (the stdlib's hook for naming rotated files), the siblings are the names that
namer produces from those default names, and only them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = ["cleanup_old_logs", "register_stage_log", "rotated_log_files"]

STAGE_LOGS_MARKER = ".stagepoint-stage-logs"
_MARKER_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)

_NUMBERED = re.compile(r"(?<!\d)\d+(?!\d)", re.ASCII)
_DATED = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)", re.ASCII)


@dataclass(frozen=True)
class LogFamily:
    """An active log file and how its rotated siblings are named.

    Attributes:
        path: The active file (``.../pipeline.log``).
        dated: Siblings carry a ``YYYY-MM-DD`` suffix (daily rotation) instead of a number.
        namer: The handler's ``namer``, if any, applied to the default sibling names.
    """

    path: Path
    dated: bool = False
    namer: Callable[[str], str] | None = None

    def siblings(self) -> list[Path]:
        """Return the rotated siblings of ``path`` that exist now (never ``path`` itself)."""
        directory = self.path.parent
        try:
            names = [entry.name for entry in directory.iterdir()]
        except (FileNotFoundError, NotADirectoryError):
            return []
        found = [directory / name for name in names if self.suffix_of(name) is not None]
        return sorted(p for p in found if p.is_file() and not p.is_symlink())

    def suffix_of(self, name: str) -> str | None:
        """Return the rotation suffix if ``name`` is one of this family's siblings, else None."""
        pattern = _DATED if self.dated else _NUMBERED
        base = self.path.name
        if self.namer is None:
            prefix = base + "."
            suffix = name[len(prefix) :]
            if name.startswith(prefix) and pattern.fullmatch(suffix):
                return suffix
            return None
        # As the stdlib's getFilesToDelete does: find a candidate suffix in the name and keep
        # the file only if the namer turns the default name with that suffix into this name.
        for match in pattern.finditer(name):
            try:
                produced = self.namer(f"{self.path}.{match.group(0)}")
            except Exception:  # a user's namer: a failure means "not ours"  # noqa: S112
                continue
            if Path(produced).name == name and Path(produced).parent == self.path.parent:
                return match.group(0)
        return None


def standard_families(
    log_dir: str | Path, *, namer: Callable[[str], str] | None = None
) -> list[LogFamily]:
    """Return the families of files a ``PipelineLogger`` and its stage logs write in ``log_dir``."""
    root = Path(log_dir)
    families = [
        LogFamily(root / "pipeline.log", namer=namer),
        LogFamily(root / "errors" / "errors.log", namer=namer),
        LogFamily(root / "events" / "events.log", dated=True, namer=namer),
    ]
    stages = root / "stages"
    families.extend(
        LogFamily(stages / f"{name}.log", namer=namer) for name in sorted(_stage_names(stages))
    )
    return families


def register_stage_log(directory: str | Path, stage: str) -> None:
    """Record that ``<directory>/<stage>.log`` is a stage log written by this package.

    Retention (:func:`cleanup_old_logs`) deletes the rotated files of the stage logs recorded
    in ``<log_dir>/stages`` this way, and of no other file there. The record is one line
    appended to the hidden file ``.stagepoint-stage-logs`` in ``directory``; safe from many
    processes. Never raises for a write failure (the stage log itself reports those).

    Args:
        directory: The stage log directory.
        stage: The stage name (a validated name: no separator, no newline).
    """
    if not stage or "\n" in stage or "/" in stage:
        return
    with contextlib.suppress(OSError):
        fd = os.open(Path(directory) / STAGE_LOGS_MARKER, _MARKER_FLAGS, 0o644)
        try:
            os.write(fd, stage.encode("utf-8", "surrogateescape") + b"\n")
        finally:
            os.close(fd)


def _stage_names(stages: Path) -> set[str]:
    """The stage names recorded by :func:`register_stage_log` in ``stages``."""
    try:
        text = (stages / STAGE_LOGS_MARKER).read_bytes().decode("utf-8", "surrogateescape")
    except OSError:
        return set()
    return {name for name in text.split("\n") if name and "/" not in name}


def rotated_log_files(
    log_dir: str | Path, *, namer: Callable[[str], str] | None = None
) -> list[Path]:
    """Return the rotated files of the logger's own logs under ``log_dir``, never active ones.

    These are ``pipeline.log.<n>``, ``errors/errors.log.<n>``, ``events/events.log.<date>``
    and, in a stage log directory ``stages/`` marked by the stage log handler,
    ``<stage>.log.<n>`` (with ``namer``, the names it makes of those). Nothing else under
    ``log_dir`` is listed, whatever its name: other programs' rotated logs are left alone.
    """
    families = standard_families(log_dir, namer=namer)
    return sorted(path for family in families for path in family.siblings())


def _date_in(suffix: str) -> dt.date | None:
    match = _DATED.search(suffix)
    if match is None:
        return None
    try:
        return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def delete_expired(
    families: Iterable[LogFamily], retention_days: float, *, now: float | None = None
) -> int:
    """Delete the siblings of ``families`` older than ``retention_days``; return the count."""
    cutoff = (time.time() if now is None else now) - retention_days * 86400
    cutoff_date = dt.datetime.fromtimestamp(cutoff).date()
    deleted = 0
    for family in families:
        for path in family.siblings():
            suffix = family.suffix_of(path.name)
            day = _date_in(suffix) if family.dated and suffix is not None else None
            try:
                old = day < cutoff_date if day is not None else path.stat().st_mtime < cutoff
                if old:
                    path.unlink()
                    deleted += 1
            except FileNotFoundError:
                continue
    return deleted


def cleanup_old_logs(
    log_dir: str | Path,
    retention_days: float,
    *,
    now: float | None = None,
    namer: Callable[[str], str] | None = None,
) -> int:
    """Delete the logger's rotated files under ``log_dir`` older than ``retention_days``.

    Only the rotated siblings of the files the logger writes are candidates (see
    :func:`rotated_log_files`): other files under ``log_dir``, even when named like rotated
    logs (``webserver.log.1``, ``audit/2023/trades.log.2023-01-31``), are never touched, and
    active files never. A dated file (``events.log.2025-10-06``) is old when that date is
    before the cutoff's local date; a numbered one (``pipeline.log.2``) when it was last
    modified before the cutoff. Safe to run from several processes at once: a file another
    process deleted first is skipped.

    Args:
        log_dir: The log directory given to ``PipelineLogger``.
        retention_days: Age in days beyond which rotated files go.
        now: The current time in epoch seconds (default: the clock).
        namer: The ``namer`` set on the handlers, if any: rotated files are then the names
            it produces.

    Returns:
        The number of files this call deleted.
    """
    return delete_expired(standard_families(log_dir, namer=namer), retention_days, now=now)
