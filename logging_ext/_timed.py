"""``ProcessSafeTimedRotatingFileHandler``: time rotation that many processes can share."""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from pathlib import Path
from typing import ClassVar

from logging_ext._errors import InvalidHandlerArgumentError
from logging_ext._filebase import ProcessSafeFileHandler, stat_or_none

__all__ = ["ProcessSafeTimedRotatingFileHandler"]

_DAY = 86400
# when -> (seconds per unit, suffix, pattern of the suffix), as the stdlib names them
_UNITS: dict[str, tuple[int, str, str]] = {
    "S": (1, "%Y-%m-%d_%H-%M-%S", r"\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}"),
    "M": (60, "%Y-%m-%d_%H-%M", r"\d{4}-\d{2}-\d{2}_\d{2}-\d{2}"),
    "H": (3600, "%Y-%m-%d_%H", r"\d{4}-\d{2}-\d{2}_\d{2}"),
    "D": (_DAY, "%Y-%m-%d", r"\d{4}-\d{2}-\d{2}"),
    "MIDNIGHT": (_DAY, "%Y-%m-%d", r"\d{4}-\d{2}-\d{2}"),
}


class ProcessSafeTimedRotatingFileHandler(ProcessSafeFileHandler):
    """Drop-in for :class:`logging.handlers.TimedRotatingFileHandler`, safe across processes.

    Records are appended whole with one ``O_APPEND`` write (no loss, no torn or interleaved
    lines across processes). ``when="midnight"`` (and ``"D"``) rotates at local midnight,
    ``"W0"``-``"W6"`` at the midnight that ends that weekday (Monday is 0), every ``interval``
    days or weeks, with the boundaries computed in local calendar time exactly as the stdlib
    computes them, so a day of 23 or 25 hours (a DST change) still rotates at midnight;
    ``"H"``, ``"M"`` and ``"S"`` rotate on multiples of ``interval`` hours, minutes or seconds
    of the clock, so every process agrees on the boundaries. At the first record of a new
    period the file is renamed to ``name.<period>`` (``name.2025-10-06`` for daily rotation,
    the stdlib's suffixes) under the lock file ``.<name>.lock``, only if that dated file does
    not exist yet and the file at the path is still the one of the old period: two processes
    never both rotate, and no rotated file is ever overwritten (CPython issue 130108). Every
    process then reopens the new file. ``backupCount`` (when > 0) keeps that many dated files.

    A file left from an earlier run is judged by its modification time, so a file last written
    yesterday is rotated to yesterday's name at the first record today.

    Args:
        filename: Path of the log file; its directory is created when missing.
        when: ``"S"``, ``"M"``, ``"H"``, ``"D"``, ``"midnight"`` or ``"W0"``-``"W6"``.
        interval: Number of ``when`` units per period.
        backupCount: Number of dated files kept (0: all).
        encoding: Text encoding of the lines (default UTF-8).
        delay: Open the file at the first record instead of now.
        utc: Use UTC instead of local time for boundaries and file names.
        reopen_check_interval: Seconds between checks that the path still names the open
            file (0: before every record).

    Raises:
        InvalidHandlerArgumentError: An unknown ``when`` or a non-positive ``interval``.
    """

    _weekday: ClassVar[re.Pattern[str]] = re.compile(r"W([0-6])")

    def __init__(  # noqa: PLR0917 - the stdlib's positional signature
        self,
        filename: str | os.PathLike[str],
        when: str = "midnight",
        interval: int = 1,
        backupCount: int = 0,  # noqa: N803 - the stdlib's argument names
        encoding: str | None = None,
        delay: bool = False,
        utc: bool = False,
        *,
        reopen_check_interval: float = 1.0,
    ) -> None:
        key = when.upper()
        weekday = self._weekday.fullmatch(key)
        if interval < 1:
            raise InvalidHandlerArgumentError("interval", interval, "must be >= 1")
        if backupCount < 0:
            raise InvalidHandlerArgumentError("backupCount", backupCount, "must be >= 0")
        self.dayOfWeek: int | None = None
        if weekday is not None:
            unit, self.suffix, pattern = 7 * _DAY, *_UNITS["D"][1:]
            self.dayOfWeek = int(weekday.group(1))
        elif key in _UNITS:
            unit, self.suffix, pattern = _UNITS[key]
        else:
            raise InvalidHandlerArgumentError(
                "when", when, "expected S, M, H, D, midnight or W0-W6"
            )
        self.when = key
        self.backupCount = backupCount
        self.utc = utc
        self.interval = unit * interval  # seconds, as the stdlib keeps it
        self._count = interval
        self._calendar = unit >= _DAY
        self.extMatch = re.compile(rf"(?<!\d){pattern}(?!\d)", re.ASCII)
        self.rolloverAt = 0.0
        super().__init__(
            filename, "a", encoding, delay, reopen_check_interval=reopen_check_interval
        )

    def computeRollover(self, currentTime: float) -> float:  # noqa: N802, N803 - stdlib names
        """Return the first rotation time after ``currentTime`` (epoch seconds).

        ``midnight``/``D``: the local midnight that ends the day of ``currentTime``, plus
        ``interval - 1`` days; ``W<d>``: the midnight that ends the next weekday ``d`` (that day
        itself included), plus ``interval - 1`` weeks. These are computed on the local calendar
        (UTC with ``utc=True``) as the stdlib does: a wall-clock time that a DST change skips
        is taken at the same distance past the change, one that occurs twice keeps the offset
        in force at ``currentTime`` when it can. ``H``/``M``/``S``: the next multiple of the
        period on the local clock.
        """
        if not self._calendar:
            offset = 0 if self.utc else time.localtime(currentTime).tm_gmtoff
            local = currentTime + offset
            return (local // self.interval + 1) * self.interval - offset
        return _calendar_boundary(
            currentTime,
            days=self._count if self.dayOfWeek is None else 7 * self._count,
            weekday=self.dayOfWeek,
            at_seconds=_DAY,
            utc=self.utc,
        )

    def _period_suffix(self, rollover_at: float) -> str:
        """The suffix (``2025-10-06`` for daily periods) of the period that ends then."""
        if not self._calendar:
            start = rollover_at - self.interval
            moment = time.gmtime(start) if self.utc else time.localtime(start)
            return time.strftime(self.suffix, moment)
        end = time.gmtime(rollover_at) if self.utc else time.localtime(rollover_at)
        first = dt.date(end.tm_year, end.tm_mon, end.tm_mday) - dt.timedelta(seconds=self.interval)
        return first.strftime(self.suffix)

    def _opened(self, st: os.stat_result) -> None:
        moment = st.st_mtime if st.st_size > len(self._bom) else time.time()
        self.rolloverAt = self.computeRollover(moment)

    def _before_write(self, fd: int, size: int, now: float) -> int:
        if now < self.rolloverAt:
            return fd
        with self._lock_file.exclusive():
            st = stat_or_none(self.baseFilename)
            if (
                st is not None
                and (st.st_dev, st.st_ino) == self._identity
                and st.st_size > len(self._bom)
            ):
                target = f"{self.baseFilename}.{self._period_suffix(self.rolloverAt)}"
                if not os.path.lexists(target):
                    Path(self.baseFilename).rename(target)
                    self._delete_old_files()
            fd = self._reopen()
        self.rolloverAt = self.computeRollover(now)
        return fd

    def doRollover(self) -> None:  # noqa: N802 - stdlib name
        """Rotate the current file to its period's name now, if that name is still free."""
        self.acquire()
        try:
            fd = self._fd if self._fd is not None else self._open()
            self.rolloverAt = 0.0
            self._before_write(fd, 0, time.time())
        finally:
            self.release()

    def rotated_files(self) -> list[Path]:
        """Return this log's dated files (``name.<suffix>``), oldest first."""
        path = Path(self.baseFilename)
        prefix = path.name + "."
        try:
            names = [p.name for p in path.parent.iterdir()]
        except FileNotFoundError:
            return []
        dated = [
            n for n in names if n.startswith(prefix) and self.extMatch.fullmatch(n[len(prefix) :])
        ]
        return [path.parent / n for n in sorted(dated)]

    def _delete_old_files(self) -> None:
        if self.backupCount <= 0:
            return
        files = self.rotated_files()
        for old in files[: max(0, len(files) - self.backupCount)]:
            old.unlink(missing_ok=True)


def _calendar_boundary(
    now: float, *, days: int, weekday: int | None, at_seconds: int, utc: bool
) -> float:
    """The stdlib's calendar rollover: ``at_seconds`` into a day, on the local calendar.

    The boundary is on the day of ``now`` if ``at_seconds`` is still ahead that day, else the
    next day; then moved forward to ``weekday`` (if given), then by ``days`` minus one period
    of 1 (or 7) days. ``at_seconds`` may be 86400: the midnight that ends that day.
    """
    moment = time.gmtime(now) if utc else time.localtime(now)
    day = dt.date(moment.tm_year, moment.tm_mon, moment.tm_mday)
    if at_seconds <= moment.tm_hour * 3600 + moment.tm_min * 60 + moment.tm_sec:
        day += dt.timedelta(days=1)
    step = 1
    if weekday is not None:
        day += dt.timedelta(days=(weekday - day.weekday()) % 7)
        step = 7
    day += dt.timedelta(days=days - step)
    wall = (day - dt.date(1970, 1, 1)).days * _DAY + at_seconds  # the wall time, read as UTC
    if utc:
        return float(wall)
    return float(_local_instant(wall, moment.tm_gmtoff))


def _local_instant(wall: int, offset_now: int) -> int:
    """The instant at which the local clock shows ``wall`` (wall-clock seconds since 1970).

    As the stdlib: read with the UTC offset in force now if that offset still holds then;
    else with the offset in force then, if the clock does show ``wall`` at that instant;
    else (``wall`` falls in the gap a DST change skips) with the offset in force now.
    """
    instant = wall - offset_now
    offset_then = time.localtime(instant).tm_gmtoff
    if offset_then == offset_now:
        return instant
    other = wall - offset_then
    if time.localtime(other).tm_gmtoff == offset_then:
        return other
    return instant
