"""A driver process for the fan-out fault tests: ``python -m tests.pipeline._map_driver ...``.

``interrupt WORKDIR EXECUTOR [SCHEDULER]``: maps ``gated`` over six items; the test sends
SIGINT once an item started. On ``KeyboardInterrupt`` it opens the gate, waits until the
executor is idle, and prints ``{"interrupted": true}`` as JSON; the test counts which items
ever started.

``die WORKDIR``: maps ``kill_once`` in-process over ``a``, ``b``, ``die``: the third item
kills this driver (SIGKILL) after the first two were committed by their workers, before
the run record says so. Prints the pipeline id first.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from checkpointing import Pipeline
from tests.pipeline import _map_fns as fns

INTERRUPT_KEYS = [f"k{i}" for i in range(6)]


def _pipeline(workdir: Path) -> Pipeline:
    return Pipeline("fan", checkpoint_dir=workdir / "ckpt", log_dir=workdir / "logs")


def _idle(client: Any) -> None:
    """Wait until no worker of the cluster processes a task (at most a minute)."""
    deadline = time.monotonic() + 60
    while any(client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.05)


def interrupt(workdir: Path, kind: str, scheduler: str | None) -> None:
    fn = functools.partial(fns.gated, str(workdir))
    executor: Any = None
    if kind == "process-pool":
        executor = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    elif kind == "dask":
        from distributed import Client

        executor = Client(scheduler)
    p = _pipeline(workdir)
    print(p.pipeline_id, flush=True)
    try:
        with p:
            p.map("wait", fn, INTERRUPT_KEYS, executor=executor)
    except KeyboardInterrupt:
        (workdir / "gate").touch()
        if kind == "process-pool":
            executor.shutdown(wait=True)
        elif kind == "dask":
            _idle(executor)
            executor.close()
        print(json.dumps({"interrupted": True}), flush=True)


def die(workdir: Path) -> None:
    p = _pipeline(workdir)
    print(p.pipeline_id, flush=True)
    with p:
        p.map("fetch", functools.partial(fns.kill_once, str(workdir)), ["a", "b", "die"])


if __name__ == "__main__":
    command, directory, *rest = sys.argv[1:]
    if command == "interrupt":
        interrupt(Path(directory), rest[0], rest[1] if len(rest) > 1 else None)
    else:
        die(Path(directory))
