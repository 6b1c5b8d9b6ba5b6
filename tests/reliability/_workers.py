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
from checkpointing.store._layout import LOCK
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
    """Save, compact the registry often (tiny shard limit) and rebuild it, forever."""
    registry_module.COMPACT_SLACK = 2048
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
    with manager.storage.lock(LOCK, timeout=10):
        _ready(ready)
        time.sleep(seconds)


# -- read-only users -----------------------------------------------------------------------------

NOBODY = 65534


def _drop_privileges() -> None:
    """Become ``nobody`` (the suite runs as root, for whom file modes do not stop writes)."""
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def read_as_nobody(directory: str, warm: str) -> None:
    """As ``nobody``, read a store it cannot write; print what each reading call returned.

    Imports and first calls happen before the privileges are dropped (on ``warm``, another
    store), because the interpreter's own files are not readable by ``nobody`` here.
    """
    import io
    from contextlib import redirect_stdout

    from checkpointing.cli._main import main as cli

    def run_cli(*argv: str) -> dict[str, Any]:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli(["--dir", directory, *argv, "--json"])
        return {"code": code, "out": json.loads(out.getvalue() or "null"), "err": err.getvalue()}

    warm_manager = CheckpointManager(warm)
    warm_manager.load_checkpoint(warm_manager.list_checkpoints()[0]["checkpoint_id"])
    with redirect_stdout(io.StringIO()):
        cli(["--dir", warm, "verify"])
    _drop_privileges()
    try:
        Path(directory, "probe").write_text("x")
    except PermissionError:
        writable = False
    else:
        writable = True
    manager = CheckpointManager(directory)
    latest = manager.get_latest_checkpoint("etl")
    result = {
        "uid": os.getuid(),
        "writable": writable,
        "latest": latest,
        "list": [e["checkpoint_id"] for e in manager.list_checkpoints()],
        "list_etl": [e["checkpoint_id"] for e in manager.list_checkpoints("etl")],
        "progress": manager.get_pipeline_progress("etl")["total_checkpoints"],
        "loaded_rows": None if latest is None else len(manager.load_checkpoint(latest)["data"]),
        "cli_list": run_cli("list"),
        "cli_verify": run_cli("verify"),
        "cli_progress": run_cli("progress", "etl"),
        "cli_show": run_cli("show", str(latest)),
    }
    sys.stdout.write(json.dumps(result) + "\n")


def save_while_read(directory: str, pipelines: int, seconds: float, ready: Any) -> None:
    """Save small checkpoints round-robin over ``pipelines`` pipelines, compacting the shards
    every few saves and rebuilding the registry now and then, for ``seconds``."""
    registry_module.COMPACT_SLACK = 512
    manager = CheckpointManager(directory, lock_timeout=30)
    manager.save_checkpoint("p0", "s", small_frame(0))
    _ready(ready)
    deadline = time.monotonic() + seconds
    i = 1
    while time.monotonic() < deadline:
        manager.save_checkpoint(f"p{i % pipelines}", "s", small_frame(i, rows=5))
        if i % 25 == 0:
            manager.rebuild_registry()
        i += 1


def list_as_nobody(directory: str, seconds: float) -> None:
    """As ``nobody``, list a store being written for ``seconds``; print what was seen.

    A view is torn if a checkpoint listed once is missing from a later listing (the writer
    only adds) or a listed checkpoint's manifest cannot be read.
    """
    manager = CheckpointManager(directory)
    manager.list_checkpoints()
    _drop_privileges()
    seen: set[str] = set()
    rounds = torn = unreadable = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        listed = {e["checkpoint_id"] for e in manager.list_checkpoints()}
        listed_p1 = {e["checkpoint_id"] for e in manager.list_checkpoints("p1")}
        torn += len(seen - listed) + len({c for c in seen if c.startswith("p1_")} - listed_p1)
        for cid in listed - seen:
            try:
                manager.get_state(cid)
            except (CheckpointNotFoundError, IntegrityError):
                unreadable += 1
        seen |= listed
        rounds += 1
    result = {"rounds": rounds, "seen": len(seen), "torn": torn, "unreadable": unreadable}
    sys.stdout.write(json.dumps(result) + "\n")
