"""CPython's own rotating-handler tests, run against our drop-in replacements.

Adapted from CPython 3.13 ``Lib/test/test_logging.py`` (``RotatingFileHandlerTest`` and
``TimedRotatingFileHandlerTest``): the same steps and expectations, written for pytest and
``tmp_path``. The DST cases with ``atTime`` (``test_compute_rollover_*_local``) run in a child
process with ``TZ`` set, through ``_timezones.py``. Where our handlers
deliberately differ, the test says so (docs/logging.md lists every difference):

- ``S``/``M``/``H`` periods are aligned to the clock, not counted from the handler's start
  (every process must agree on them); ``D`` rotates at midnight like ``midnight``.
"""

from __future__ import annotations

import datetime
import itertools
import logging
import os
import re
import time
import zlib
from pathlib import Path

import pytest

from logging_ext import ProcessSafeRotatingFileHandler as RotatingFileHandler
from logging_ext import ProcessSafeTimedRotatingFileHandler as TimedRotatingFileHandler
from tests.logging_ext._timezones import NEW_YORK, boundaries

_counter = itertools.count(1)


def next_rec() -> logging.LogRecord:
    return logging.LogRecord("n", logging.DEBUG, "p", 1, str(next(_counter)), None, None, None)


@pytest.fixture
def fn(tmp_path: Path) -> str:
    path = tmp_path / "test_logging-2-x.log"
    path.touch()
    return str(path)


# -- RotatingFileHandlerTest --------------------------------------------------------------------


def test_should_not_rollover(fn: str) -> None:
    # If file is empty rollover never occurs
    rh = RotatingFileHandler(fn, encoding="utf-8", maxBytes=1)
    assert not rh.shouldRollover(None)  # type: ignore[arg-type]
    rh.close()
    # If maxBytes is zero rollover never occurs
    rh = RotatingFileHandler(fn, encoding="utf-8", maxBytes=0)
    assert not rh.shouldRollover(None)  # type: ignore[arg-type]
    rh.close()
    Path(fn).write_bytes(b"\n")
    rh = RotatingFileHandler(fn, encoding="utf-8", maxBytes=0)
    assert not rh.shouldRollover(None)  # type: ignore[arg-type]
    rh.close()


def test_should_not_rollover_non_file() -> None:
    # bpo-45401: maxBytes=1 would rotate, except that /dev/null is not a regular file
    rh = RotatingFileHandler(os.devnull, encoding="utf-8", maxBytes=1)
    assert not rh.shouldRollover(next_rec())
    rh.emit(next_rec())
    rh.close()


def test_should_rollover(fn: str) -> None:
    Path(fn).write_bytes(b"\n")
    rh = RotatingFileHandler(fn, encoding="utf-8", maxBytes=2)
    assert rh.shouldRollover(next_rec())
    rh.close()


def test_file_created(fn: str) -> None:
    os.unlink(fn)
    rh = RotatingFileHandler(fn, encoding="utf-8")
    rh.emit(next_rec())
    assert os.path.exists(fn)
    rh.close()


@pytest.mark.parametrize("delay", [False, True])
def test_max_bytes(fn: str, delay: bool) -> None:
    os.unlink(fn)
    rh = RotatingFileHandler(fn, encoding="utf-8", backupCount=2, maxBytes=100, delay=delay)
    assert os.path.exists(fn) is (not delay)
    small = logging.makeLogRecord({"msg": "a"})
    large = logging.makeLogRecord({"msg": "b" * 100})
    assert not rh.shouldRollover(small)
    assert not rh.shouldRollover(large)
    rh.emit(small)
    assert os.path.exists(fn)
    assert not os.path.exists(fn + ".1")
    assert not rh.shouldRollover(small)
    assert rh.shouldRollover(large)
    rh.emit(large)
    assert os.path.exists(fn)
    assert os.path.exists(fn + ".1")
    assert not os.path.exists(fn + ".2")
    assert rh.shouldRollover(small)
    assert rh.shouldRollover(large)
    rh.close()


def test_rollover_filenames(fn: str) -> None:
    def namer(name: str) -> str:
        return name + ".test"

    rh = RotatingFileHandler(fn, encoding="utf-8", backupCount=2, maxBytes=1)
    rh.namer = namer
    rh.emit(next_rec())
    assert os.path.exists(fn)
    assert not os.path.exists(namer(fn + ".1"))
    rh.emit(next_rec())
    assert os.path.exists(namer(fn + ".1"))
    assert not os.path.exists(namer(fn + ".2"))
    rh.emit(next_rec())
    assert os.path.exists(namer(fn + ".2"))
    assert not os.path.exists(namer(fn + ".3"))
    rh.emit(next_rec())
    assert not os.path.exists(namer(fn + ".3"))
    rh.close()


def test_namer_rotator_inheritance(fn: str) -> None:
    class HandlerWithNamerAndRotator(RotatingFileHandler):
        def namer(self, name: str) -> str:
            return name + ".test"

        def rotator(self, source: str, dest: str) -> None:
            if os.path.exists(source):
                os.replace(source, dest + ".rotated")

    rh = HandlerWithNamerAndRotator(fn, encoding="utf-8", backupCount=2, maxBytes=1)
    assert rh.namer(fn) == fn + ".test"
    rh.emit(next_rec())
    assert os.path.exists(fn)
    rh.emit(next_rec())
    assert os.path.exists(rh.namer(fn + ".1") + ".rotated")
    assert not os.path.exists(rh.namer(fn + ".1"))
    rh.close()


def test_rotator(fn: str) -> None:
    def namer(name: str) -> str:
        return name + ".gz"

    def rotator(source: str, dest: str) -> None:
        with open(source, "rb") as sf:
            compressed = zlib.compress(sf.read(), 9)
        with open(dest, "wb") as df:
            df.write(compressed)
        os.remove(source)

    def content(name: str) -> str:
        with open(name, "rb") as f:
            return zlib.decompress(f.read()).decode("ascii")

    rh = RotatingFileHandler(fn, encoding="utf-8", backupCount=2, maxBytes=1)
    rh.rotator = rotator
    rh.namer = namer
    m1 = next_rec()
    rh.emit(m1)
    assert os.path.exists(fn)
    m2 = next_rec()
    rh.emit(m2)
    assert content(namer(fn + ".1")) == m1.msg + os.linesep
    rh.emit(next_rec())
    assert content(namer(fn + ".2")) == m1.msg + os.linesep
    rh.emit(next_rec())
    assert content(namer(fn + ".2")) == m2.msg + os.linesep
    assert not os.path.exists(namer(fn + ".3"))
    rh.close()


# -- TimedRotatingFileHandlerTest ---------------------------------------------------------------


def test_timed_should_not_rollover() -> None:
    # bpo-45401: only ever rollover regular files
    fh = TimedRotatingFileHandler(os.devnull, "S", encoding="utf-8", backupCount=1)
    time.sleep(1.1)
    assert not fh.shouldRollover(logging.makeLogRecord({"msg": "testing - device file"}))
    fh.close()


def test_rollover(fn: str) -> None:
    fh = TimedRotatingFileHandler(fn, "S", encoding="utf-8", backupCount=1)
    fh.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    fh.emit(logging.makeLogRecord({"msg": "testing - initial"}))
    assert os.path.exists(fn)
    time.sleep(1.1)
    fh.emit(logging.makeLogRecord({"msg": "testing - after delay"}))
    fh.close()
    now = datetime.datetime.now()
    rotated = [
        fn + (now - datetime.timedelta(seconds=secs)).strftime(".%Y-%m-%d_%H-%M-%S")
        for secs in range(5 * 60)
    ]
    assert any(os.path.exists(name) for name in rotated)


@pytest.mark.parametrize("weekly", [False, True])
def test_rollover_at_midnight(fn: str, weekly: bool) -> None:
    os.unlink(fn)
    now = datetime.datetime.now()
    at_time = now.time()
    if not 0.1 < at_time.microsecond / 1e6 < 0.9:
        # The test requires all records to be emitted within the same whole second.
        time.sleep((0.1 - at_time.microsecond / 1e6) % 1.0)
        now = datetime.datetime.now()
        at_time = now.time()
    at_time = at_time.replace(microsecond=0)
    fmt = logging.Formatter("%(asctime)s %(message)s")
    when = f"W{now.weekday()}" if weekly else "MIDNIGHT"
    for i in range(3):
        fh = TimedRotatingFileHandler(fn, encoding="utf-8", when=when, atTime=at_time)
        fh.setFormatter(fmt)
        fh.emit(logging.makeLogRecord({"msg": f"testing1 {i}"}))
        fh.close()
    with open(fn, encoding="utf-8") as f:
        for i, line in enumerate(f):
            assert f"testing1 {i}" in line
    os.utime(fn, (now.timestamp() - 1,) * 2)
    for i in range(2):
        fh = TimedRotatingFileHandler(fn, encoding="utf-8", when=when, atTime=at_time)
        fh.setFormatter(fmt)
        fh.emit(logging.makeLogRecord({"msg": f"testing2 {i}"}))
        fh.close()
    rollover_date = now - datetime.timedelta(days=7 if weekly else 1)
    other = f"{fn}.{rollover_date:%Y-%m-%d}"
    with open(fn, encoding="utf-8") as f:
        for i, line in enumerate(f):
            assert f"testing2 {i}" in line
    with open(other, encoding="utf-8") as f:
        for i, line in enumerate(f):
            assert f"testing1 {i}" in line


@pytest.mark.parametrize("when", ["X", "W", "W7"])
def test_invalid(fn: str, when: str) -> None:
    with pytest.raises(ValueError, match="when"):
        TimedRotatingFileHandler(fn, when, encoding="utf-8", delay=True)


def test_compute_rollover_daily_attime(fn: str) -> None:
    day = 24 * 60 * 60
    rh = TimedRotatingFileHandler(fn, encoding="utf-8", when="MIDNIGHT", utc=True, atTime=None)
    assert rh.computeRollover(0) == day
    assert rh.computeRollover(day - 1) == day
    assert rh.computeRollover(day) == 2 * day
    assert rh.computeRollover(25 * 60 * 60) == 2 * day
    rh.close()
    at_time = datetime.time(12, 0, 0)
    rh = TimedRotatingFileHandler(fn, encoding="utf-8", when="MIDNIGHT", utc=True, atTime=at_time)
    assert rh.computeRollover(0) == 12 * 60 * 60
    assert rh.computeRollover(12 * 60 * 60 - 1) == 12 * 60 * 60
    assert rh.computeRollover(12 * 60 * 60) == 36 * 60 * 60
    assert rh.computeRollover(13 * 60 * 60) == 36 * 60 * 60
    rh.close()


def test_compute_rollover_weekly_attime(fn: str) -> None:
    current = int(time.time())
    today = current - current % 86400
    at_time = datetime.time(12, 0, 0)
    wday = time.gmtime(today).tm_wday
    for day in range(7):
        rh = TimedRotatingFileHandler(fn, encoding="utf-8", when=f"W{day}", interval=1,
                                      backupCount=0, utc=True, atTime=at_time)  # fmt: skip
        expected = (7 - wday + day) if wday > day else (day - wday)
        expected = expected * 86400 + 12 * 60 * 60 + today
        assert rh.computeRollover(today) == expected
        assert rh.computeRollover(today + 12 * 60 * 60 - 1) == expected
        if day == wday:
            expected += 7 * 86400  # goes into the following week
        assert rh.computeRollover(today + 12 * 60 * 60) == expected
        assert rh.computeRollover(today + 13 * 60 * 60) == expected
        rh.close()


def test_compute_files_to_delete(tmp_path: Path) -> None:
    # bpo-46063
    times = []
    moment = datetime.datetime.now()
    for _ in range(10):
        times.append(moment.strftime("%Y-%m-%d_%H-%M-%S"))
        moment += datetime.timedelta(seconds=5)
    prefixes = ("a.b", "a.b.c", "d.e", "d.e.f", "g")
    files: list[str] = []
    rotators = []

    def namer_de(filename: str) -> str:
        dirname, basename = os.path.split(filename)
        return os.path.join(dirname, basename.replace(".log", "") + ".log")

    def namer_g(filename: str) -> str:
        dirname, basename = os.path.split(filename)
        return os.path.join(dirname, "g" + basename[6:] + ".oldlog")

    for prefix in prefixes:
        rotator = TimedRotatingFileHandler(tmp_path / f"{prefix}.log", when="s", interval=5,
                                           backupCount=7, delay=True)  # fmt: skip
        rotators.append(rotator)
        if prefix.startswith("a.b"):
            files.extend(f"{prefix}.log.{t}" for t in times)
        elif prefix.startswith("d.e"):
            rotator.namer = namer_de
            files.extend(f"{prefix}.{t}.log" for t in times)
        else:
            rotator.namer = namer_g
            files.extend(f"g{t}.oldlog" for t in times)
    for name in files:
        (tmp_path / name).touch()
    for prefix, rotator in zip(prefixes, rotators, strict=True):
        candidates = rotator.getFilesToDelete()
        assert len(candidates) == 3, candidates
        for candidate in candidates:
            name = os.path.basename(candidate)
            if prefix.startswith("a.b"):
                assert name.startswith(f"{prefix}.log.")
            elif prefix.startswith("d.e"):
                assert name.endswith(".log")
                assert name.startswith(prefix + ".")
                assert name[len(prefix) + 2].isdigit()
            else:
                assert name.endswith(".oldlog")
                assert name.startswith("g")
                assert name[1].isdigit()


def test_compute_files_to_delete_same_filename_different_extensions(tmp_path: Path) -> None:
    # GH-93205
    times = []
    moment = datetime.datetime.now()
    for _ in range(10):
        times.append(moment.strftime("%Y-%m-%d_%H-%M-%S"))
        moment += datetime.timedelta(seconds=5)
    prefixes = ("a.log", "a.log.b")
    rotators = [
        TimedRotatingFileHandler(
            tmp_path / prefix, when="s", interval=5, backupCount=i + 1, delay=True
        )
        for i, prefix in enumerate(prefixes)
    ]
    for t in times:
        for prefix in prefixes:
            (tmp_path / f"{prefix}.{t}").touch()
        (tmp_path / f"a.log.{t}.c").touch()
    matcher = re.compile(r"^\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}\Z")
    for i, (prefix, rotator) in enumerate(zip(prefixes, rotators, strict=True)):
        candidates = rotator.getFilesToDelete()
        assert len(candidates) == 10 - (i + 1), candidates
        for candidate in candidates:
            name = os.path.basename(candidate)
            assert name.startswith(prefix + ".")
            assert matcher.search(name[len(prefix) + 1 :])


@pytest.mark.parametrize(
    ("when", "interval", "expected"),
    [
        ("S", 1, 1),
        ("S", 3, 3),
        ("M", 1, 60),
        ("M", 3, 180),
        ("H", 1, 3600),
        ("H", 3, 3 * 3600),
        ("D", 1, 86400),
        ("D", 3, 3 * 86400),
        ("MIDNIGHT", 1, 86400),
        ("MIDNIGHT", 3, 3 * 86400),
        ("W0", 1, 5 * 86400),  # the epoch was a Thursday; W0 ends the next Monday
        ("W0", 3, 5 * 86400 + 14 * 86400),
    ],
)
def test_compute_rollover(fn: str, when: str, interval: int, expected: int) -> None:
    rh = TimedRotatingFileHandler(fn, encoding="utf-8", when=when, interval=interval,
                                  backupCount=0, utc=True)  # fmt: skip
    assert rh.computeRollover(0.0) == expected
    rh.close()


def _check(tmp_path: Path, options: dict[str, object], pairs: list[tuple[str, str]]) -> None:
    got = boundaries(tmp_path, NEW_YORK, options, [current for current, _ in pairs])
    assert list(zip([c for c, _ in pairs], got, strict=True)) == pairs


def test_compute_rollover_midnight_local_at_time(tmp_path: Path) -> None:
    # DST begins at 2012-03-11T02:00 and ends at 2012-11-04T02:00; "|1" is the second 01:xx.
    _check(tmp_path, {"when": "MIDNIGHT", "atTime": "12:00:00"}, [
        ("2012-03-10T11:59:59", "2012-03-10T12:00:00"),
        ("2012-03-10T12:00:00", "2012-03-11T12:00:00"),
        ("2012-03-10T13:00:00", "2012-03-11T12:00:00"),
        ("2012-11-03T11:59:59", "2012-11-03T12:00:00"),
        ("2012-11-03T12:00:00", "2012-11-04T12:00:00"),
        ("2012-11-03T13:00:00", "2012-11-04T12:00:00"),
    ])  # fmt: skip
    _check(tmp_path, {"when": "MIDNIGHT", "atTime": "02:00:00"}, [
        ("2012-03-10T01:59:59", "2012-03-10T02:00:00"),
        ("2012-03-10T02:00:00", "2012-03-11T03:00:00"),  # 02:00 is 03:00 on 2012-03-11
        ("2012-03-10T03:00:00", "2012-03-11T03:00:00"),
        ("2012-03-11T01:59:59", "2012-03-11T03:00:00"),
        ("2012-03-11T03:00:00", "2012-03-12T02:00:00"),
        ("2012-03-11T04:00:00", "2012-03-12T02:00:00"),
        ("2012-11-03T01:59:59", "2012-11-03T02:00:00"),
        ("2012-11-03T02:00:00", "2012-11-04T02:00:00"),
        ("2012-11-03T03:00:00", "2012-11-04T02:00:00"),
        ("2012-11-04T01:59:59", "2012-11-04T02:00:00"),
        ("2012-11-04T01:59:59|1", "2012-11-04T02:00:00"),
        ("2012-11-04T02:00:00", "2012-11-05T02:00:00"),
        ("2012-11-04T03:00:00", "2012-11-05T02:00:00"),
    ])  # fmt: skip
    _check(tmp_path, {"when": "MIDNIGHT", "atTime": "02:30:00"}, [
        ("2012-03-10T02:29:59", "2012-03-10T02:30:00"),
        ("2012-03-10T02:30:00", "2012-03-11T03:30:00"),  # no 02:30 on 2012-03-11
        ("2012-03-10T03:00:00", "2012-03-11T03:30:00"),
        ("2012-03-11T01:59:59", "2012-03-11T03:30:00"),
        ("2012-03-11T03:00:00", "2012-03-12T02:30:00"),
        ("2012-03-11T03:30:00", "2012-03-12T02:30:00"),
        ("2012-11-03T02:29:59", "2012-11-03T02:30:00"),
        ("2012-11-03T02:30:00", "2012-11-04T02:30:00"),
        ("2012-11-03T03:00:00", "2012-11-04T02:30:00"),
    ])  # fmt: skip
    _check(tmp_path, {"when": "MIDNIGHT", "atTime": "01:30:00"}, [
        ("2012-03-11T01:29:59", "2012-03-11T01:30:00"),
        ("2012-03-11T01:30:00", "2012-03-12T01:30:00"),
        ("2012-03-11T01:59:59", "2012-03-12T01:30:00"),
        ("2012-03-11T03:00:00", "2012-03-12T01:30:00"),
        ("2012-03-11T03:30:00", "2012-03-12T01:30:00"),
        ("2012-11-04T01:00:00", "2012-11-04T01:30:00"),
        ("2012-11-04T01:29:59", "2012-11-04T01:30:00"),
        ("2012-11-04T01:30:00", "2012-11-05T01:30:00"),
        ("2012-11-04T01:59:59", "2012-11-05T01:30:00"),
        ("2012-11-04T01:00:00|1", "2012-11-04T01:30:00|1"),  # back to the 4th, as CPython
        ("2012-11-04T01:29:59|1", "2012-11-04T01:30:00|1"),
        ("2012-11-04T01:30:00|1", "2012-11-05T01:30:00"),
        ("2012-11-04T01:59:59|1", "2012-11-05T01:30:00"),
        ("2012-11-04T02:00:00", "2012-11-05T01:30:00"),
        ("2012-11-04T02:30:00", "2012-11-05T01:30:00"),
    ])  # fmt: skip


def test_compute_rollover_w6_local_at_time(tmp_path: Path) -> None:
    _check(tmp_path, {"when": "W6", "atTime": "00:00:00"}, [
        ("2012-03-10T23:59:59", "2012-03-11T00:00:00"),
        ("2012-03-11T00:00:00", "2012-03-18T00:00:00"),
        ("2012-03-11T01:00:00", "2012-03-18T00:00:00"),
        ("2012-11-03T23:59:59", "2012-11-04T00:00:00"),
        ("2012-11-04T00:00:00", "2012-11-11T00:00:00"),
        ("2012-11-04T01:00:00", "2012-11-11T00:00:00"),
    ])  # fmt: skip
    _check(tmp_path, {"when": "W6", "atTime": "02:00:00"}, [
        ("2012-03-04T01:59:59", "2012-03-04T02:00:00"),
        ("2012-03-04T02:00:00", "2012-03-11T03:00:00"),
        ("2012-03-04T03:00:00", "2012-03-11T03:00:00"),
        ("2012-03-11T01:59:59", "2012-03-11T03:00:00"),
        ("2012-03-11T03:00:00", "2012-03-18T02:00:00"),
        ("2012-03-11T04:00:00", "2012-03-18T02:00:00"),
        ("2012-10-28T01:59:59", "2012-10-28T02:00:00"),
        ("2012-10-28T02:00:00", "2012-11-04T02:00:00"),
        ("2012-10-28T03:00:00", "2012-11-04T02:00:00"),
        ("2012-11-04T01:59:59", "2012-11-04T02:00:00"),
        ("2012-11-04T01:59:59|1", "2012-11-04T02:00:00"),
        ("2012-11-04T02:00:00", "2012-11-11T02:00:00"),
        ("2012-11-04T03:00:00", "2012-11-11T02:00:00"),
    ])  # fmt: skip
    _check(tmp_path, {"when": "W6", "atTime": "01:30:00"}, [
        ("2012-03-11T01:29:59", "2012-03-11T01:30:00"),
        ("2012-03-11T01:30:00", "2012-03-18T01:30:00"),
        ("2012-03-11T03:00:00", "2012-03-18T01:30:00"),
        ("2012-11-04T01:00:00", "2012-11-04T01:30:00"),
        ("2012-11-04T01:30:00", "2012-11-11T01:30:00"),
        ("2012-11-04T01:00:00|1", "2012-11-04T01:30:00|1"),
        ("2012-11-04T01:30:00|1", "2012-11-11T01:30:00"),
        ("2012-11-04T02:30:00", "2012-11-11T01:30:00"),
    ])  # fmt: skip


def test_compute_rollover_intervals_local_at_time(tmp_path: Path) -> None:
    _check(tmp_path, {"when": "MIDNIGHT", "interval": 3, "atTime": "12:00:00"}, [
        ("2012-03-08T11:59:59", "2012-03-10T12:00:00"),
        ("2012-03-08T12:00:00", "2012-03-11T12:00:00"),
        ("2012-03-10T11:59:59", "2012-03-12T12:00:00"),
        ("2012-03-10T12:00:00", "2012-03-13T12:00:00"),
        ("2012-11-01T11:59:59", "2012-11-03T12:00:00"),
        ("2012-11-01T12:00:00", "2012-11-04T12:00:00"),
        ("2012-11-03T12:00:00", "2012-11-06T12:00:00"),
    ])  # fmt: skip
    _check(tmp_path, {"when": "W6", "interval": 3, "atTime": "00:00:00"}, [
        ("2012-02-25T23:59:59", "2012-03-11T00:00:00"),
        ("2012-02-26T00:00:00", "2012-03-18T00:00:00"),
        ("2012-03-10T23:59:59", "2012-03-25T00:00:00"),
        ("2012-03-11T00:00:00", "2012-04-01T00:00:00"),
        ("2012-10-20T23:59:59", "2012-11-04T00:00:00"),
        ("2012-11-04T01:00:00", "2012-11-25T00:00:00"),
    ])  # fmt: skip
    _check(tmp_path, {"when": "W6", "interval": 3, "atTime": "12:00:00"}, [
        ("2012-02-18T11:59:59", "2012-03-04T12:00:00"),
        ("2012-02-19T12:00:00", "2012-03-11T12:00:00"),
        ("2012-03-04T11:59:59", "2012-03-18T12:00:00"),
        ("2012-03-04T12:00:00", "2012-03-25T12:00:00"),
        ("2012-10-14T12:00:00", "2012-11-04T12:00:00"),
        ("2012-10-28T12:00:00", "2012-11-18T12:00:00"),
    ])  # fmt: skip


def test_timed_should_not_rollover_a_device_not_opened_yet() -> None:
    fh = TimedRotatingFileHandler(os.devnull, "S", encoding="utf-8", backupCount=1, delay=True)
    fh.rolloverAt = 0
    assert not fh.shouldRollover(logging.makeLogRecord({"msg": "testing - device file"}))
    assert fh.rolloverAt > 0
    fh.close()
