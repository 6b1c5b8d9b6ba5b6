"""Running computeRollover in a child process whose local time zone is set by ``TZ``.

The zones are POSIX TZ rules, so no tz database is needed: ``BERLIN`` is Europe/Berlin's (DST
from the last Sunday of March 02:00 to the last Sunday of October 03:00), ``NEW_YORK``
America/New_York's since 2007, the rule CPython's own tests use (``EST+05EDT,M3.2.0,M11.1.0``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

BERLIN = "CET-1CEST,M3.5.0,M10.5.0/3"
NEW_YORK = "EST+05EDT,M3.2.0,M11.1.0"

_CHILD = textwrap.dedent(
    """
    import datetime, json, sys, time
    time.tzset()
    from logging_ext import ProcessSafeTimedRotatingFileHandler

    options, cases = json.loads(sys.stdin.read())
    if "atTime" in options:
        options["atTime"] = datetime.time.fromisoformat(options["atTime"])
    handler = ProcessSafeTimedRotatingFileHandler(sys.argv[1], delay=True, **options)
    out = []
    for current, fold in cases:
        moment = datetime.datetime.fromisoformat(current).replace(fold=fold)
        boundary = datetime.datetime.fromtimestamp(handler.computeRollover(moment.timestamp()))
        out.append(boundary.isoformat() + ("|1" if boundary.fold else ""))
    print(json.dumps(out))
    """
)


def boundaries(tmp_path: Path, tz: str, options: dict[str, Any], cases: list[str]) -> list[str]:
    """computeRollover of each local wall time in ``cases`` (``"…|1"``: the second of two).

    ``options`` are the handler's keyword arguments (``atTime`` as ``"HH:MM:SS"``).
    """
    parsed = [(c.removesuffix("|1"), int(c.endswith("|1"))) for c in cases]
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path / "t.log")],
        input=json.dumps([options, parsed]),
        capture_output=True,
        text=True,
        env={"TZ": tz, "PYTHONPATH": str(Path(__file__).parents[2])},
        check=True,
    )
    return list(json.loads(result.stdout))
