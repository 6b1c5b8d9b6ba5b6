"""What SIGKILL and several processes do to stagepoint and to the usual tools, counted.

Run: ``.venv/bin/python -m bench.compare_reliability [--kills N]``

Three scenarios, each run the same way against both sides:

1. Rotating logs, SIGKILL: two processes log numbered JSON records through one rotating handler
   (64 KiB files) and are SIGKILLed after a random 10-300 ms (seeded), N times in a row on the
   same files. Counted: lines that are not whole JSON (torn or glued together) and records
   missing between the first and last one each process wrote (lost). stdlib
   ``RotatingFileHandler`` vs ``ProcessSafeRotatingFileHandler``.
2. Rotating logs, 4 processes x 10,000 records at once (64 KiB files, three runs): lost,
   duplicated and torn records. Same two handlers.
3. Checkpoints, SIGKILL: a process saves small frames in a loop and is SIGKILLed after a random
   delay, N times. ``df.to_parquet`` straight to the final path (what most pipeline tools do)
   vs ``CheckpointManager.save_checkpoint``. Counted: files a reader finds under the final
   names that do not load (torn), and, for ours, leftovers that cleanup then removed.
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import multiprocessing
import os
import random
import signal
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from checkpointing import CheckpointManager, IntegrityError
from logging_ext import JsonFormatter, ProcessSafeRotatingFileHandler

PRELOAD = ["numpy", "pandas", "pyarrow", "pyarrow.parquet", "checkpointing", "logging_ext"]
MAX_BYTES = 64 * 1024
BACKUPS = 1000  # enough to keep every file of a run


def _handler(kind: str, path: str) -> logging.Handler:
    if kind == "stdlib":
        return logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS)
    return ProcessSafeRotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS)


def _log(kind: str, path: str, worker: str, count: int, ready: Any) -> None:
    logging.raiseExceptions = False  # the stdlib's failed rollovers are counted, not printed
    handler = _handler(kind, path)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger(f"compare.{worker}")
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)
    if ready is not None:
        ready.set()
    seq = 0
    while count < 0 or seq < count:
        log.info("record %d", seq, extra={"worker": worker, "seq": seq, "pad": "x" * 100})
        seq += 1
    handler.close()


def _read_logs(directory: Path) -> tuple[dict[str, list[int]], int]:
    seqs: dict[str, list[int]] = {}
    torn = 0
    for path in directory.glob("app.log*"):
        for line in path.read_bytes().split(b"\n"):
            if not line:
                continue
            try:
                record = json.loads(line)
                seqs.setdefault(record["worker"], []).append(record["seq"])
            except (ValueError, KeyError):
                torn += 1
    return seqs, torn


def _kill_after(ctx: Any, rng: random.Random, targets: list[tuple[Any, tuple[Any, ...]]]) -> None:
    processes = []
    for target, args in targets:
        ready = ctx.Event()
        process = ctx.Process(target=target, args=(*args, ready))
        process.start()
        processes.append((process, ready))
    for _, ready in processes:
        ready.wait(60)
    time.sleep(rng.uniform(0.01, 0.3))
    for process, _ in processes:
        os.kill(process.pid, signal.SIGKILL)
    for process, _ in processes:
        process.join()


def logs_sigkill(ctx: Any, kind: str, kills: int) -> dict[str, int]:
    rng = random.Random("compare-logs")
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "app.log")
        for point in range(kills):
            _kill_after(ctx, rng, [(_log, (kind, path, f"p{point}w{k}", -1)) for k in range(2)])
        seqs, torn = _read_logs(Path(tmp))
        files = len(list(Path(tmp).glob("app.log*")))
    written = sum(max(s) + 1 for s in seqs.values())
    present = sum(len(set(s)) for s in seqs.values())
    return {"records": written, "lost": written - present, "torn": torn, "files": files}


def logs_concurrent(ctx: Any, kind: str, processes: int, count: int) -> dict[str, int]:
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "app.log")
        workers = [
            ctx.Process(target=_log, args=(kind, path, f"w{k}", count, None))
            for k in range(processes)
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        seqs, torn = _read_logs(Path(tmp))
    found = Counter((w, s) for w, ss in seqs.items() for s in ss)
    expected = processes * count
    present = sum(1 for w in range(processes) for s in range(count) if (f"w{w}", s) in found)
    duplicated = sum(n - 1 for n in found.values() if n > 1)
    return {"records": expected, "lost": expected - present, "duplicated": duplicated, "torn": torn}


def _frame(i: int) -> pd.DataFrame:
    rng = np.random.default_rng(i)
    return pd.DataFrame({"a": rng.random(20_000), "b": rng.integers(0, 1000, 20_000)})


def _save(kind: str, directory: str, worker: str, ready: Any) -> None:
    manager = CheckpointManager(directory)
    ready.set()
    i = 0
    while True:
        if kind == "to_parquet":
            _frame(i).to_parquet(Path(directory) / f"{worker}_{i}.parquet")
        else:
            manager.save_checkpoint("compare", worker, _frame(i))
        i += 1


def checkpoints_sigkill(ctx: Any, kind: str, kills: int) -> dict[str, int]:
    rng = random.Random("compare-checkpoints")
    with tempfile.TemporaryDirectory() as tmp:
        for point in range(kills):
            _kill_after(ctx, rng, [(_save, (kind, tmp, f"p{point}"))])
        torn = visible = leftovers = 0
        if kind == "to_parquet":
            for path in Path(tmp).glob("*.parquet"):
                visible += 1
                try:
                    pd.read_parquet(path)
                except Exception:
                    torn += 1
        else:
            manager = CheckpointManager(tmp)
            for entry in manager.list_checkpoints():
                visible += 1
                try:
                    manager.verify_checkpoint(entry["checkpoint_id"])
                except IntegrityError:
                    torn += 1
            before = len(os.listdir(tmp))
            manager.cleanup_old_checkpoints(retention_days=3650, grace_seconds=0)
            leftovers = before - len(os.listdir(tmp))
    return {"visible": visible, "torn": torn, "leftovers_cleaned": leftovers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=24)
    args = parser.parse_args()
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    print(f"## SIGKILL while logging ({args.kills} kill points x 2 processes, 64 KiB rotation)")
    for kind in ("stdlib", "stagepoint"):
        print(f"  {kind:<11} {logs_sigkill(ctx, kind, args.kills)}")
    print("## 4 processes x 10,000 records at once (64 KiB rotation), 3 runs")
    for run in range(3):
        for kind in ("stdlib", "stagepoint"):
            print(f"  {kind:<11} run {run + 1} {logs_concurrent(ctx, kind, 4, 10_000)}")
    print(f"## SIGKILL while saving checkpoints ({args.kills} kill points, 20,000-row frames)")
    for kind in ("to_parquet", "stagepoint"):
        print(f"  {kind:<11} {checkpoints_sigkill(ctx, kind, args.kills)}")


if __name__ == "__main__":
    main()
