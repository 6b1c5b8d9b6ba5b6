"""Child-process bodies for the reliability tests: tight loops that a parent SIGKILLs.

Every function here runs in a real child process (multiprocessing ``forkserver`` with the
libraries preloaded, so a kill point costs a fork, not an interpreter start). A child reports
what it finished by appending one line per completed operation to a ``done`` file with a single
``O_APPEND`` write *after* the operation returned; the parent only trusts complete lines.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import checkpointing.store._registry as registry_module
from checkpointing import CheckpointManager, CheckpointNotFoundError, IntegrityError
from logging_ext import JsonFormatter, PipelineLogger, ProcessSafeRotatingFileHandler

PRELOAD = ["numpy", "pandas", "pyarrow", "pyarrow.parquet", "checkpointing", "logging_ext"]


def small_frame(i: int, rows: int = 50) -> pd.DataFrame:
    """A small frame whose content depends on ``i``."""
    return pd.DataFrame(
        {"i": np.full(rows, i, dtype="int64"), "x": np.arange(rows, dtype="float64") * i}
    )


def report(done: str, *fields: object) -> None:
    """Append one whole line ``field\\tfield...`` to ``done``."""
    line = "\t".join(str(f) for f in fields) + "\n"
    fd = os.open(done, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def read_done(done: str | Path) -> list[list[str]]:
    """The complete lines of a ``done`` file, split on tabs (a torn last line is dropped)."""
    try:
        text = Path(done).read_text()
    except FileNotFoundError:
        return []
    lines = text.split("\n")
    return [line.split("\t") for line in lines[:-1] if line]


def _ready(ready: Any) -> None:
    ready.set()


# -- SIGKILL scenarios -------------------------------------------------------------------------


def save_loop(directory: str, done: str, worker: str, ready: Any) -> None:
    """Save small checkpoints forever; report each id once saved."""
    manager = CheckpointManager(directory, lock_timeout=30)
    _ready(ready)
    i = 0
    while True:
        cid = manager.save_checkpoint("kill", worker, small_frame(i), {"i": i})
        report(done, "saved", cid)
        i += 1


def compact_loop(directory: str, done: str, worker: str, ready: Any) -> None:
    """Save, compact the registry often (tiny journal limit) and rebuild it, forever."""
    registry_module.COMPACT_BYTES = 2048
    manager = CheckpointManager(directory, lock_timeout=30)
    _ready(ready)
    i = 0
    while True:
        cid = manager.save_checkpoint("kill", worker, small_frame(i), {"i": i})
        report(done, "saved", cid)
        if i % 3 == 0:
            manager.rebuild_registry()
        i += 1


def cleanup_loop(directory: str, done: str, worker: str, ready: Any) -> None:
    """Save a few, delete one, expire old ones and remove leftovers (no grace), forever."""
    manager = CheckpointManager(directory, lock_timeout=30)
    _ready(ready)
    i = 0
    while True:
        ids = [manager.save_checkpoint("kill", worker, small_frame(i + k)) for k in range(3)]
        for cid in ids:
            report(done, "saved", cid)
        if manager.delete_checkpoint(ids[0]):
            report(done, "deleted", ids[0])
        # Expire everything older than ~50 ms; a kill in here leaves half-deleted checkpoints.
        before = {e["checkpoint_id"] for e in manager.list_checkpoints()}
        manager.cleanup_old_checkpoints(retention_days=0.05 / 86400, grace_seconds=0)
        after = {e["checkpoint_id"] for e in manager.list_checkpoints()}
        for cid in before - after:
            report(done, "deleted", cid)
        i += 3


def log_loop(log_file: str, max_bytes: int, worker: str, ready: Any) -> None:
    """Log numbered JSON records through a rotating handler forever (awkward values too)."""
    handler = ProcessSafeRotatingFileHandler(
        log_file, maxBytes=max_bytes, backupCount=100_000, reopen_check_interval=0
    )
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger(f"reliability.{worker}")
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False
    _ready(ready)
    seq = 0
    awkward = {"nan": float("nan"), "inf": float("inf"), "text": 'é\n"\x00', "b": b"\xff"}
    while True:
        log.info("record %d", seq, extra={"worker": worker, "seq": seq, "v": awkward})
        seq += 1


# -- concurrency -------------------------------------------------------------------------------


def mixed_worker(directory: str, log_file: str, done: str, worker: str, seconds: float) -> None:
    """Do everything at once for ``seconds``: save, load, delete own saves, cleanup, rebuild, log.

    Reports ``saved``/``deleted`` ids and the number of log records written.
    """
    rng = random.Random(worker)
    manager = CheckpointManager(directory, lock_timeout=60)
    handler = ProcessSafeRotatingFileHandler(
        log_file, maxBytes=16 * 1024, backupCount=100_000, reopen_check_interval=0
    )
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger(f"reliability.mixed.{worker}")
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False
    mine: list[str] = []
    seq = 0
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        action = rng.random()
        if action < 0.45:
            cid = manager.save_checkpoint("mixed", worker, small_frame(i), {"worker": worker})
            report(done, "saved", cid)
            mine.append(cid)
        elif action < 0.6 and mine:
            cid = mine.pop(rng.randrange(len(mine)))
            if manager.delete_checkpoint(cid):
                report(done, "deleted", cid)
        elif action < 0.8:
            listed = manager.list_checkpoints()
            if listed:
                cid = rng.choice(listed)["checkpoint_id"]
                # Another worker may delete it between list and load; never wrong data.
                with contextlib.suppress(CheckpointNotFoundError, IntegrityError):
                    loaded = manager.load_checkpoint(cid)
                    assert loaded["state"]["checkpoint_id"] == cid
        elif action < 0.9:
            manager.cleanup_old_checkpoints(retention_days=365)
        else:
            manager.rebuild_registry()
        log.info("op %d", seq, extra={"worker": worker, "seq": seq})
        seq += 1
        i += 1
    handler.close()
    report(done, "records", worker, seq)


# -- full disk ---------------------------------------------------------------------------------


def full_disk_save(directory: str, limit: int, result_file: str) -> None:
    """Save small checkpoints, then a big one under RLIMIT_FSIZE; write what happened as JSON."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    manager = CheckpointManager(directory)
    before = [manager.save_checkpoint("disk", "small", small_frame(i)) for i in range(3)]
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    big = pd.DataFrame({"x": np.random.default_rng(0).random(200_000)})
    outcome: dict[str, Any] = {"before": before}
    try:
        manager.save_checkpoint("disk", "big", big)
    except Exception as exc:
        outcome["error_type"] = type(exc).__name__
        outcome["error_mro"] = [c.__name__ for c in type(exc).__mro__]
        outcome["errno"] = getattr(exc, "errno", None)
        outcome["message"] = str(exc)
    else:
        outcome["error_type"] = None
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
    Path(result_file).write_text(json.dumps(outcome))


def full_disk_logging(log_dir: str, limit: int, records: int) -> None:
    """Log through PipelineLogger past RLIMIT_FSIZE; print how many calls returned."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    plog = PipelineLogger(log_dir, max_bytes=10 * limit, backup_count=2)
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    completed = 0
    for i in range(records):
        plog.log_event("data_quality_check", "disk", "s", "info", {"i": i, "pad": "x" * 200})
        completed += 1
    plog.close()
    sys.stdout.write(f"completed {completed}\n")
    sys.stdout.flush()


# -- locks -------------------------------------------------------------------------------------


def hold_registry_lock(directory: str, ready: Any, seconds: float) -> None:
    """Take the registry lock of ``directory`` and hold it for ``seconds`` (or until killed)."""
    manager = CheckpointManager(directory)
    with manager.storage.lock(registry_module.LOCK, timeout=10):
        _ready(ready)
        time.sleep(seconds)
