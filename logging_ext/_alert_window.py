"""De-duplication of alerts: the first alert of a kind per window, then a count of the repeats.

An alert has a key (for a pipeline failure: the pipeline name, the stage, the error's type and
message). :class:`AlertWindow` lets the first alert of a key through, suppresses the repeats
that follow within ``window`` seconds and counts them, and adds that count to the next alert of
the key once the window has passed.

The state is kept in memory, or in a small JSON file (``state_file``) shared by every process
that names it: a failing job started by cron every five minutes then alerts once per window, not
once per process. The file holds SHA-256 digests of the keys, never their text; it is read and
rewritten whole (temporary file, rename) under a file lock. A state file that cannot be used is
ignored: an alert is never lost because of it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

__all__: list[str] = []

_VERSION = 1
_FORGET_AFTER = 7 * 24 * 3600.0  # keys not seen for a week are dropped from the state file
_LOCK_TIMEOUT = 5.0


@dataclass(frozen=True)
class Admission:
    """Whether to send an alert, and what the repeats since the last one sent were.

    Attributes:
        send: Send it (``False``: a repeat within the window, counted).
        suppressed: How many repeats of the key were suppressed since the last one sent.
        since: When the first of those repeats happened (seconds since the epoch), or ``None``.
    """

    send: bool
    suppressed: int = 0
    since: float | None = None


class AlertWindow:
    """Rate limit per key: one alert per ``window`` seconds, repeats counted (thread safe).

    Args:
        window: Seconds during which repeats of a key are suppressed (0: never).
        state_file: A JSON file shared by processes, or ``None`` to keep the state in memory.
    """

    def __init__(self, window: float, state_file: str | os.PathLike[str] | None = None) -> None:
        self.window = window
        self.state_file = None if state_file is None else Path(state_file)
        self._memory: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()

    def after_fork(self) -> None:
        """Replace the lock (a forked child may inherit it held by a thread it does not have)."""
        self._lock = threading.Lock()

    def admit(self, key: str | None, now: float) -> Admission:
        """Decide about an alert of ``key`` happening at ``now`` (``None`` key: always send)."""
        if key is None or self.window <= 0:
            return Admission(send=True)
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        with self._lock:
            if self.state_file is not None:
                with contextlib.suppress(OSError, Timeout, ValueError):
                    return self._admit_shared(self.state_file, digest, now)
            return _decide(self._memory, digest, now, self.window)

    def _admit_shared(self, path: Path, digest: str, now: float) -> Admission:
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path.with_name(f".{path.name}.lock")), timeout=_LOCK_TIMEOUT):
            entries = _read(path)
            admission = _decide(entries, digest, now, self.window)
            for stale in [k for k, e in entries.items() if now - e["sent_at"] > _FORGET_AFTER]:
                del entries[stale]
            _write(path, entries)
        return admission


def _decide(
    entries: dict[str, dict[str, float]], digest: str, now: float, window: float
) -> Admission:
    entry = entries.get(digest)
    if entry is not None and now - entry["sent_at"] < window:  # earlier: a late repeat
        if not entry["suppressed"]:
            entry["since"] = now
        entry["suppressed"] += 1
        return Admission(send=False)
    suppressed = 0 if entry is None else int(entry["suppressed"])
    since = None if entry is None or not suppressed else entry.get("since")
    entries[digest] = {"sent_at": now, "suppressed": 0, "since": now}
    return Admission(send=True, suppressed=suppressed, since=since)


def _read(path: Path) -> dict[str, dict[str, float]]:
    """The entries of the state file (none when it is missing); ValueError when malformed."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    if not isinstance(raw, dict) or raw.get("version") != _VERSION:
        return {}  # another format: start afresh rather than misread it
    entries = raw.get("alerts")
    if not isinstance(entries, dict):
        raise ValueError("malformed alert state file")
    checked: dict[str, dict[str, float]] = {}
    for digest, entry in entries.items():
        if isinstance(entry, dict) and all(
            isinstance(entry.get(f), int | float) for f in ("sent_at", "suppressed", "since")
        ):
            checked[str(digest)] = {f: float(entry[f]) for f in ("sent_at", "suppressed", "since")}
    return checked


def _write(path: Path, entries: dict[str, dict[str, float]]) -> None:
    text = json.dumps({"version": _VERSION, "alerts": entries}, allow_nan=False)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
