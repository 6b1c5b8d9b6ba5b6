"""``ProcessSafeTimedRotatingFileHandler``: time rotation that many processes can share."""

from __future__ import annotations

import datetime as dt
import os
import re
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from logging_ext._errors import InvalidHandlerArgumentError
from logging_ext._filebase import ProcessSafeFileHandler, stat_or_none

if TYPE_CHECKING:
    import logging

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
    lines across processes). ``when="midnight"`` (and ``"D"``) rotates at local midnight, or
    at ``atTime``; ``"W0"``-``"W6"`` at the midnight that ends that weekday (Monday is 0), or
    at ``atTime`` on it; every ``interval`` days or weeks, with the boundaries computed on the
    local calendar exactly as the stdlib computes them, so a day of 23 or 25 hours (a DST
    change) still rotates at midnight. ``"H"``, ``"M"`` and ``"S"`` rotate on multiples of
    ``interval`` hours, minutes or seconds of the clock, so every process agrees on the
    boundaries. At the first record of a new period the file is moved to ``name.<period>``
    (``name.2025-10-06`` for daily rotation, the stdlib's suffixes; through ``namer`` and
    ``rotator`` when set) under the lock file ``.<name>.lock``, only if that name is still free
    and the file at the path is still the one of the old period: two processes never both
    rotate, and no rotated file is ever overwritten (CPython issue 130108). Every process then
    reopens the new file. ``backupCount`` (when > 0) keeps that many rotated files.

    A file left from an earlier run is judged by its modification time, so a file last written
    yesterday is rotated to yesterday's name at the first record today.

    Args:
        filename: Path of the log file; its directory is created when missing.
        when: ``"S"``, ``"M"``, ``"H"``, ``"D"``, ``"midnight"`` or ``"W0"``-``"W6"`` (any case).
        interval: Number of ``when`` units per period.
        backupCount: Number of rotated files kept (0: all).
        encoding: Text encoding of the lines (default UTF-8).
        delay: Open the file at the first record instead of now.
        utc: Use UTC instead of local time for boundaries and file names.
        atTime: A :class:`datetime.time` of day at which ``midnight``, ``D`` and ``W<d>``
            rotate instead of midnight.
        errors: How encoding errors are handled (default ``"backslashreplace"``: never lose
            a record to an unencodable character).
        reopen_check_interval: Seconds between checks that the path still names the open
            file (0: before every record).

    Raises:
        InvalidHandlerArgumentError: An unknown ``when`` or a non-positive ``interval``.
    """

    _weekday: ClassVar[re.Pattern[str]] = re.compile(r"W([0-6])")

    def __init__(  # noqa: PLR0917 - the stdlib's positional signature
        self,
        filename: str | os.PathLike[str],
        when: str = "h",
        interval: int = 1,
        backupCount: int = 0,  # noqa: N803 - the stdlib's argument names
        encoding: str | None = None,
        delay: bool = False,
        utc: bool = False,
        atTime: dt.time | None = None,  # noqa: N803
        errors: str | None = None,
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
        self.atTime = atTime
        self.interval = unit * interval  # seconds, as the stdlib keeps it
        self._count = interval
        self._calendar = unit >= _DAY
        self.extMatch = re.compile(rf"(?<!\d){pattern}(?!\d)", re.ASCII)
        self.rolloverAt = 0.0
        super().__init__(
            filename, "a", encoding, delay, errors, reopen_check_interval=reopen_check_interval
        )
        if self._fd is None:  # delay: judge the file as the stdlib does, without opening it
            st = stat_or_none(self.baseFilename)
            self.rolloverAt = self.computeRollover(st.st_mtime if st else time.time())

    def computeRollover(self, currentTime: float) -> float:  # noqa: N802, N803 - stdlib names
        """Return the first rotation time after ``currentTime`` (epoch seconds).

        ``midnight``/``D``: the local midnight that ends the day of ``currentTime`` (or the
        next ``atTime``), plus ``interval - 1`` days; ``W<d>``: the midnight that ends the next
        weekday ``d``, that day included (or ``atTime`` on it), plus ``interval - 1`` weeks.
        These are computed on the local calendar (UTC with ``utc=True``) as the stdlib does: a
        wall-clock time that a DST change skips is taken at the same distance past the change,
        one that occurs twice keeps the offset in force at ``currentTime`` when it can.
        ``H``/``M``/``S``: the next multiple of the period on the local clock.
        """
        if not self._calendar:
            offset = 0 if self.utc else time.localtime(currentTime).tm_gmtoff
            local = currentTime + offset
            return (local // self.interval + 1) * self.interval - offset
        at = self.atTime
        return _calendar_boundary(
            currentTime,
            days=self._count if self.dayOfWeek is None else 7 * self._count,
            weekday=self.dayOfWeek,
            at_seconds=_DAY if at is None else at.hour * 3600 + at.minute * 60 + at.second,
            utc=self.utc,
        )

    def shouldRollover(self, record: logging.LogRecord | None) -> bool:  # noqa: N802
        """Return whether the current period is over (``record`` is not used), as the stdlib.

        A file that is not regular (``/dev/null``) never rotates: its next rotation time is
        moved on instead.
        """
        now = time.time()
        if now < self.rolloverAt:
            return False
        if self._fd is not None:
            regular = self._regular
        else:
            st = stat_or_none(self.baseFilename)
            regular = st is None or stat.S_ISREG(st.st_mode)
        if not regular:
            self.rolloverAt = self.computeRollover(now)
            return False
        return True

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
                self._rotate_to_period()
            fd = self._reopen()
        self.rolloverAt = self.computeRollover(now)
        return fd

    def _rotate_to_period(self) -> None:
        """Move the file to its period's name if that name is free; drop the oldest files."""
        suffix = self._period_suffix(self.rolloverAt)
        target = self.rotation_filename(f"{self.baseFilename}.{suffix}")
        if os.path.lexists(target):  # already rotated: never overwrite a rotated file
            return
        self.rotate(self.baseFilename, target)
        if self.backupCount > 0:
            for old in self.getFilesToDelete():
                Path(old).unlink(missing_ok=True)

    def doRollover(self) -> None:  # noqa: N802 - stdlib name
        """Rotate now, as the stdlib method of this name does.

        The file goes to the name of the period that ends at ``rolloverAt`` (unless a file
        has that name already: nothing is overwritten), the oldest rotated files beyond
        ``backupCount`` are deleted, and the next rotation time is computed from now. The file
        is reopened at once unless ``delay`` is set.
        """
        self.acquire()
        try:
            with self._lock_file.exclusive():
                if Path(self.baseFilename).exists():
                    self._rotate_to_period()
                self._close_fd()
                if not self.delay:
                    self._open()
            self.rolloverAt = self.computeRollover(time.time())
        finally:
            self.release()

    def rotated_files(self) -> list[Path]:
        """Return this log's rotated files (``name.<suffix>``, through ``namer``), sorted."""
        path = Path(self.baseFilename)
        try:
            names = [p.name for p in path.parent.iterdir()]
        except FileNotFoundError:
            return []
        return [path.parent / name for name in sorted(names) if self._is_rotated(name)]

    def _is_rotated(self, name: str) -> bool:
        base = Path(self.baseFilename).name
        if not callable(self.namer):
            return name.startswith(base + ".") and bool(
                self.extMatch.fullmatch(name[len(base) + 1 :])
            )
        # As the stdlib: a name holding a date suffix that the namer makes from the default.
        match = self.extMatch.search(name)
        while match:
            if Path(self.rotation_filename(f"{self.baseFilename}.{match[0]}")).name == name:
                return True
            match = self.extMatch.search(name, match.start() + 1)
        return False

    def getFilesToDelete(self) -> list[str]:  # noqa: N802 - stdlib name
        """Return the rotated files beyond the newest ``backupCount``, as the stdlib does."""
        files = self.rotated_files()
        if len(files) < self.backupCount:
            return []
        return [str(p) for p in files[: len(files) - self.backupCount]]


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
