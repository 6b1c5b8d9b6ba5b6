"""Timed rotation boundaries on the local calendar, across DST changes, as the stdlib computes.

Each test runs in a child process whose ``TZ`` is set (and ``time.tzset()`` called), so the
local clock of the test process is never touched (see ``_timezones.py``).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from tests.logging_ext._timezones import BERLIN, NEW_YORK, boundaries


def _check(tmp_path: Path, tz: str, options: dict[str, Any], pairs: list[tuple[str, str]]) -> None:
    got = boundaries(tmp_path, tz, options, [current for current, _ in pairs])
    assert list(zip([c for c, _ in pairs], got, strict=True)) == pairs


def test_midnight_on_the_days_berlin_changes_clocks(tmp_path: Path) -> None:
    # 2025-03-30 has 23 hours and 2025-10-26 has 25: start + 86400 s would give 01:00 / 23:00.
    _check(
        tmp_path,
        BERLIN,
        {"when": "midnight"},
        [
            ("2025-03-29T12:00:00", "2025-03-30T00:00:00"),
            ("2025-03-30T00:00:00", "2025-03-31T00:00:00"),
            ("2025-03-30T10:00:00", "2025-03-31T00:00:00"),
            ("2025-10-25T23:59:59", "2025-10-26T00:00:00"),
            ("2025-10-26T00:00:00", "2025-10-27T00:00:00"),
            ("2025-10-26T02:30:00|1", "2025-10-27T00:00:00"),
            ("2025-10-26T22:00:00", "2025-10-27T00:00:00"),
        ],
    )


def test_daily_and_weekly_periods_in_new_york(tmp_path: Path) -> None:
    # CPython's test_compute_rollover_MIDNIGHT_local and _W6_local (without atTime).
    _check(
        tmp_path,
        NEW_YORK,
        {"when": "MIDNIGHT"},
        [
            ("2012-03-10T23:59:59", "2012-03-11T00:00:00"),
            ("2012-03-11T00:00:00", "2012-03-12T00:00:00"),
            ("2012-03-11T01:00:00", "2012-03-12T00:00:00"),
            ("2012-11-03T23:59:59", "2012-11-04T00:00:00"),
            ("2012-11-04T00:00:00", "2012-11-05T00:00:00"),
            ("2012-11-04T01:00:00", "2012-11-05T00:00:00"),
        ],
    )
    _check(
        tmp_path,
        NEW_YORK,
        {"when": "W6"},
        [
            ("2012-03-04T23:59:59", "2012-03-05T00:00:00"),
            ("2012-03-05T00:00:00", "2012-03-12T00:00:00"),
            ("2012-03-05T01:00:00", "2012-03-12T00:00:00"),
            ("2012-10-28T23:59:59", "2012-10-29T00:00:00"),
            ("2012-10-29T00:00:00", "2012-11-05T00:00:00"),
            ("2012-10-29T01:00:00", "2012-11-05T00:00:00"),
        ],
    )


def test_longer_intervals_in_new_york(tmp_path: Path) -> None:
    # CPython's test_compute_rollover_MIDNIGHT_local_interval and _W6_local_interval.
    _check(
        tmp_path,
        NEW_YORK,
        {"when": "MIDNIGHT", "interval": 3},
        [
            ("2012-03-08T23:59:59", "2012-03-11T00:00:00"),
            ("2012-03-09T00:00:00", "2012-03-12T00:00:00"),
            ("2012-03-10T23:59:59", "2012-03-13T00:00:00"),
            ("2012-03-11T00:00:00", "2012-03-14T00:00:00"),
            ("2012-11-01T23:59:59", "2012-11-04T00:00:00"),
            ("2012-11-03T23:59:59", "2012-11-06T00:00:00"),
            ("2012-11-04T01:00:00", "2012-11-07T00:00:00"),
        ],
    )
    _check(
        tmp_path,
        NEW_YORK,
        {"when": "W6", "interval": 3},
        [
            ("2012-02-19T23:59:59", "2012-03-05T00:00:00"),
            ("2012-02-20T00:00:00", "2012-03-12T00:00:00"),
            ("2012-03-04T23:59:59", "2012-03-19T00:00:00"),
            ("2012-03-05T01:00:00", "2012-03-26T00:00:00"),
            ("2012-10-14T23:59:59", "2012-10-29T00:00:00"),
            ("2012-10-28T23:59:59", "2012-11-12T00:00:00"),
            ("2012-10-29T01:00:00", "2012-11-19T00:00:00"),
        ],
    )


_ROTATE_CHILD = textwrap.dedent(
    """
    import datetime, logging, os, sys, time
    time.tzset()
    from logging_ext import ProcessSafeTimedRotatingFileHandler

    path = sys.argv[1]
    with open(path, "w") as f:
        f.write("written on the day the clocks went forward\\n")
    moment = datetime.datetime(2025, 3, 30, 14, 0).timestamp()
    os.utime(path, (moment, moment))
    handler = ProcessSafeTimedRotatingFileHandler(path, when="midnight")
    handler.emit(logging.makeLogRecord({"msg": "today"}))
    handler.close()
    """
)


def test_a_file_written_on_a_dst_day_is_named_after_that_day(tmp_path: Path) -> None:
    path = tmp_path / "events.log"
    subprocess.run(
        [sys.executable, "-c", _ROTATE_CHILD, str(path)],
        env={"TZ": BERLIN, "PYTHONPATH": str(Path(__file__).parents[2])},
        check=True,
    )
    rotated = tmp_path / "events.log.2025-03-30"
    assert rotated.read_text() == "written on the day the clocks went forward\n"
    assert path.read_text() == "today\n"
