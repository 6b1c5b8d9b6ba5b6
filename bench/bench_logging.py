"""logging_ext against its peers, on the same work in the same run.

Run: ``.venv/bin/python -m bench.bench_logging [--repeat N] [--only PART ...]``

1. ``processes``: 4 processes x 10,000 records into one rotating handler (512 KiB, enough
   backups to keep everything): ``ProcessSafeRotatingFileHandler`` against
   concurrent-log-handler's ``ConcurrentRotatingFileHandler``. Every line of every file is then
   counted and parsed: lost, duplicated and torn lines are reported, and the stdlib
   ``RotatingFileHandler``'s losses on the same work are shown.
2. ``contention``: 15 processes x 1,500 records rotating every 5 KiB (about 340 rotations, each
   noticed by every process): the same comparison under heavy contention for the rotation lock.
3. ``query`` / ``query-large``: ``get_recent_events(pipeline_id=...)`` over 150,000 /
   1,500,000 events of 10 pipelines in the current and four rotated event files (all inside
   the 24 h window, so no file is skipped) against ``json.loads`` on every line and filtering.
4. ``event``: one ``PipelineLogger.log_event`` (written to events.log and pipeline.log) against
   one python-json-logger record to a plain ``FileHandler``, and against the design's "< 1 ms".

Every comparison prints the median and the min-max spread of each side.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import logging
import logging.handlers
import multiprocessing
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pythonjsonlogger.json import JsonFormatter as PjlJsonFormatter

from bench._common import Timing, measure_pair
from bench._common import report as report_ratio
from logging_ext import JsonFormatter, PipelineLogger, ProcessSafeRotatingFileHandler, iso_timestamp


@dataclass(frozen=True)
class Load:
    """Processes writing records into one file rotating at ``max_bytes``."""

    processes: int
    records: int
    max_bytes: int


SPREAD_OUT = Load(processes=4, records=10_000, max_bytes=512 * 1024)
CONTENTION = Load(processes=15, records=1_500, max_bytes=5 * 1024)
PIPELINES, FILES = 10, 5


def report(title: str, ours: Timing, peer: Timing, *, target: float | None = None) -> float:
    """Print the ratio of the medians, then each side's median and min-max spread."""
    ratio = report_ratio(title, ours, peer, target=target)
    for side in (ours, peer):
        print(f"  {side.label}: median {_ms(side.median)}, min-max {_ms(side.best)}"
              f"-{_ms(max(side.samples))} ({len(side.samples)} runs)")  # fmt: skip
    return ratio


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms" if seconds < 0.01 else f"{seconds * 1e3:.0f} ms"


# -- 1. processes sharing one rotating file ---------------------------------------------------


def _handler(kind: str, path: str, max_bytes: int) -> logging.Handler:
    if kind == "ours":
        return ProcessSafeRotatingFileHandler(path, maxBytes=max_bytes, backupCount=10_000)
    if kind == "clh":
        from concurrent_log_handler import ConcurrentRotatingFileHandler

        return ConcurrentRotatingFileHandler(path, maxBytes=max_bytes, backupCount=10_000)
    return logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=10_000)


def _writer(
    kind: str, path: str, worker: int, load: Load, start: multiprocessing.synchronize.Event
) -> None:
    handler = _handler(kind, path, load.max_bytes)
    handler.setFormatter(JsonFormatter(["message"]))
    logger = logging.getLogger(f"bench.{worker}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    start.wait()
    for i in range(load.records):
        logger.info("%d %d %s", worker, i, "payload " * 6)
    handler.close()


def _run_writers(kind: str, directory: Path, load: Load) -> None:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    context = multiprocessing.get_context("fork")
    start = context.Event()
    processes = [
        context.Process(target=_writer, args=(kind, str(directory / "app.log"), w, load, start))
        for w in range(load.processes)
    ]
    for process in processes:
        process.start()
    start.set()
    for process in processes:
        process.join()


def _count(directory: Path, load: Load) -> tuple[int, int, int, int]:
    """Return (lines, lost, duplicated, torn) over every file in ``directory``."""
    seen: set[tuple[int, int]] = set()
    lines = duplicated = torn = 0
    for path in directory.glob("app.log*"):
        for line in path.read_bytes().splitlines():
            lines += 1
            try:
                worker, i, *_ = json.loads(line)["message"].split(" ")
            except (ValueError, KeyError):
                torn += 1
                continue
            key = (int(worker), int(i))
            duplicated += key in seen
            seen.add(key)
    return lines, load.processes * load.records - len(seen), duplicated, torn


def bench_processes(work: Path, repeat: int, load: Load, target: float) -> None:
    ours_dir, clh_dir = work / "ours", work / "clh"
    ours, peer = measure_pair(
        lambda: _run_writers("ours", ours_dir, load),
        lambda: _run_writers("clh", clh_dir, load),
        repeat=repeat,
        labels=("ProcessSafeRotatingFileHandler", "ConcurrentRotatingFileHandler"),
    )
    report(f"{load.processes} processes x {load.records:,} records, rotating at "
           f"{load.max_bytes // 1024} KiB", ours, peer, target=target)  # fmt: skip
    for label, directory in (("ours", ours_dir), ("clh", clh_dir)):
        _print_count(label, directory, load)
    if load == SPREAD_OUT:
        for run in range(repeat):
            _run_writers("stdlib", work / "stdlib", load)
            _print_count(f"stdlib RotatingFileHandler, run {run + 1}", work / "stdlib", load)


def _print_count(label: str, directory: Path, load: Load) -> None:
    lines, lost, duplicated, torn = _count(directory, load)
    files = len(list(directory.glob("app.log*")))
    share = lost / (load.processes * load.records)
    print(f"  {label}: {files} files, {lines} lines, lost {lost} ({share:.0%}),"
          f" duplicated {duplicated}, torn {torn}")  # fmt: skip


# -- 2. reading events back --------------------------------------------------------------------


def _write_events(log_dir: Path, count: int) -> None:
    events_dir = log_dir / "events"
    events_dir.mkdir(parents=True)
    now = time.time()
    per_file = count // FILES
    spacing = 18 * 3600 / count  # all inside the last 20 hours
    for f in range(FILES):
        name = "events.log" if f == FILES - 1 else f"events.log.2000-01-0{f + 1}"
        with (events_dir / name).open("w") as out:
            for i in range(per_file):
                n = f * per_file + i
                event = {
                    "timestamp": iso_timestamp(now - 20 * 3600 + n * spacing),
                    "event_type": ("stage_start", "stage_complete", "performance_metric")[n % 3],
                    "pipeline_id": f"pipeline_{n % PIPELINES:03d}",
                    "stage": f"stage_{n % 7}",
                    "status": "success",
                    "metadata": {"rows": n, "duration_seconds": 0.001 * n},
                }
                out.write(json.dumps(event) + "\n")
        stamp = now - 20 * 3600 + (f + 1) * per_file * spacing
        os.utime(events_dir / name, (stamp, stamp))


def _naive_recent(log_dir: Path, pipeline_id: str, hours: float) -> list[dict[str, object]]:
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours)
    found = []
    events_dir = log_dir / "events"
    for path in [*sorted(events_dir.glob("events.log.*")), events_dir / "events.log"]:
        with path.open() as lines:
            for line in lines:
                event = json.loads(line)
                if (
                    event["pipeline_id"] == pipeline_id
                    and dt.datetime.fromisoformat(event["timestamp"]) >= since
                ):
                    found.append(event)
    found.sort(key=lambda e: str(e["timestamp"]))
    return found


def bench_query(work: Path, repeat: int, count: int, target: float) -> None:
    log_dir = work / f"query_{count}"
    _write_events(log_dir, count)
    logger = PipelineLogger(log_dir, configure_root=False)
    wanted = "pipeline_003"
    ours_result = logger.get_recent_events(pipeline_id=wanted)
    peer_result = _naive_recent(log_dir, wanted, 24)
    assert ours_result == peer_result, (len(ours_result), len(peer_result))
    # Each side also pays for the collection of the young objects it leaves behind (ours
    # runs with the collector paused, which only defers that work), from a clean heap.
    ours, peer = measure_pair(
        lambda: (logger.get_recent_events(pipeline_id=wanted), gc.collect(0)),
        lambda: (_naive_recent(log_dir, wanted, 24), gc.collect(0)),
        repeat=repeat,
        labels=("get_recent_events", "json.loads every line"),
        setup=gc.collect,
    )
    report(f"get_recent_events(pipeline_id=...) over {count:,} events in {FILES} files",
           ours, peer, target=target)  # fmt: skip
    logger.close()
    shutil.rmtree(log_dir, ignore_errors=True)


# -- 3. one event ---------------------------------------------------------------------------


def bench_event(work: Path, repeat: int, calls: int = 5_000) -> None:
    logger = PipelineLogger(work / "event", configure_root=False)
    bare = logging.getLogger("bench.bare")
    bare.handlers[:] = [logging.FileHandler(work / "bare.log")]
    bare.handlers[0].setFormatter(PjlJsonFormatter())
    bare.propagate = False
    bare.setLevel(logging.INFO)
    metadata = {"rows": 1000, "duration_seconds": 0.25}

    def ours() -> None:
        for _ in range(calls):
            logger.log_event("stage_complete", "pipeline_001", "extract", "success", metadata)

    def peer() -> None:
        extra = {"pipeline_id": "pipeline_001", "stage": "extract", "status": "success",
                 "metadata": metadata}  # fmt: skip
        for _ in range(calls):
            bare.info("stage_complete", extra=extra)

    ours_t, peer_t = measure_pair(
        ours, peer, repeat=repeat, labels=("log_event", "python-json-logger record")
    )
    per_call = Timing(ours_t.label, tuple(s / calls for s in ours_t.samples))
    per_peer = Timing(peer_t.label, tuple(s / calls for s in peer_t.samples))
    report("one log_event (events.log + pipeline.log) vs one bare record", per_call, per_peer,
           target=3.0)  # fmt: skip
    print(f"  log_event: {per_call.median * 1e6:.1f} us per call "
          f"= {per_call.median / 1e-3:.3f} of the design's 1 ms")  # fmt: skip
    logger.close()


PARTS = ("event", "query", "query-large", "processes", "contention")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_logging_"))
    try:
        if "event" in args.only:
            bench_event(work, args.repeat)
        if "query" in args.only:
            bench_query(work, args.repeat, 150_000, target=0.5)
        if "query-large" in args.only:
            bench_query(work, args.repeat, 1_500_000, target=0.2)
        if "processes" in args.only:
            bench_processes(work, args.repeat, SPREAD_OUT, target=0.4)
        if "contention" in args.only:
            bench_processes(work, args.repeat, CONTENTION, target=1.0)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
