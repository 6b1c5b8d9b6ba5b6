"""Item functions of the fan-out tests, importable by worker processes (spawn, Dask).

Each function takes a working directory (bound with ``functools.partial``) and leaves a file
under ``<workdir>/calls/`` for every call, so a test counts how often each item really ran,
in whichever process.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import uuid
from pathlib import Path

import pandas as pd

_log = logging.getLogger("tests.map")


def _called(workdir: str, key: str) -> None:
    calls = Path(workdir) / "calls"
    calls.mkdir(parents=True, exist_ok=True)
    (calls / f"{key}.{os.getpid()}.{uuid.uuid4().hex}").touch()


def calls(workdir: str | Path) -> dict[str, int]:
    """How many times each key's function ran."""
    counted: dict[str, int] = {}
    directory = Path(workdir) / "calls"
    for path in directory.glob("*") if directory.exists() else []:
        key = path.name.split(".")[0]
        counted[key] = counted.get(key, 0) + 1
    return counted


def frame_of(key: str, rows: int = 3) -> pd.DataFrame:
    """The small frame an item ``key`` produces."""
    return pd.DataFrame(
        {"key": pd.Series([key] * rows, dtype="str"), "value": [float(i) for i in range(rows)]}
    )


def fetch(workdir: str, key: str) -> pd.DataFrame:
    """Log one record and return the item's frame; fails for a key starting with ``bad``
    until ``<workdir>/fixed`` exists."""
    _called(workdir, key)
    _log.info("fetching %s", key, extra={"detail": {"pid": os.getpid()}})
    if key.startswith("bad") and not (Path(workdir) / "fixed").exists():
        raise ValueError(f"no data for {key}")
    return frame_of(key)


def kill_once(workdir: str, key: str) -> pd.DataFrame:
    """SIGKILL the process running it, the first time it runs for a key starting with ``die``."""
    _called(workdir, key)
    marker = Path(workdir) / f"killed-{key}"
    if key.startswith("die") and not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return frame_of(key)


def gated(workdir: str, key: str) -> pd.DataFrame:
    """Wait until ``<workdir>/gate`` exists (at most a minute), then return the frame."""
    _called(workdir, key)
    gate = Path(workdir) / "gate"
    deadline = time.monotonic() + 60
    while not gate.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return frame_of(key)


def interrupt_at(workdir: str, key: str) -> pd.DataFrame:
    """Raise KeyboardInterrupt for a key starting with ``stop`` (as Ctrl-C in this thread)."""
    _called(workdir, key)
    if key.startswith("stop"):
        raise KeyboardInterrupt
    return frame_of(key)


def not_a_frame(workdir: str, key: str) -> list[str]:
    """Return something that is not a DataFrame."""
    _called(workdir, key)
    return [key]


def locked(lock: threading.Lock, key: str) -> pd.DataFrame:
    """A function bound (with ``partial``) to a lock, which no pickler can send."""
    with lock:
        return frame_of(key)
