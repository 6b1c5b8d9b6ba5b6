"""The HTML report of a big run: 500 stages and 10,000 events, in at most 1 s and under 1 MB.

Run: ``.venv/bin/python -m bench.bench_report [--repeat N]``

The run is made by a real ``Pipeline``: 500 stages, each saving a small checkpoint, reporting a
data-quality check and logging 15 progress events of its own (10,002 events in all). Timed:
``write_report`` end to end (reading the run record, every event and ``errors.log``, building
the run model, rendering, writing the file), and the rendering alone. There is no peer: the
target is absolute (DESIGN.md).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

from checkpointing import Pipeline, get_run, render_report, write_report

STAGES = 500
PROGRESS_EVENTS = 15


def make_run(base: Path) -> str:
    """Run the big pipeline under ``base``; return its id."""
    frame = pd.DataFrame({"a": range(20), "b": [0.5] * 20})
    pipeline = Pipeline("big", checkpoint_dir=base / "ck", log_dir=base / "logs", cleanup=False)
    with pipeline:
        logger = pipeline.logger
        assert logger is not None
        for i in range(STAGES):
            with pipeline.stage(f"stage_{i:03d}") as s:
                s.checkpoint(frame)
                s.data_quality(rows=20, nulls=0, duplicates=0)
                for batch in range(PROGRESS_EVENTS):
                    logger.log_event("batch_done", pipeline.pipeline_id, s.name, "info",
                                     {"batch": batch})  # fmt: skip
    return pipeline.pipeline_id


def _spread(samples: list[float]) -> str:
    return (
        f"median {statistics.median(samples) * 1e3:.0f} ms "
        f"(min {min(samples) * 1e3:.0f} to max {max(samples) * 1e3:.0f} ms, n={len(samples)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        pipeline_id = make_run(base)
        dirs = {"checkpoint_dir": base / "ck", "log_dir": base / "logs"}
        run = get_run(pipeline_id, **dirs)
        events = sum(a.event_count for a in run.attempts)
        executions = sum(len(a.executions) for a in run.attempts)
        target = base / "report.html"
        write_report(pipeline_id, target, **dirs)  # warm-up (templates compiled once)
        whole: list[float] = []
        render: list[float] = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            write_report(pipeline_id, target, **dirs)
            whole.append(time.perf_counter() - start)
            start = time.perf_counter()
            render_report(run)
            render.append(time.perf_counter() - start)
        size = target.stat().st_size
    print(f"run: {executions} stage executions, {events} events")
    print(f"write_report (read + model + render + write): {_spread(whole)}  target <= 1000 ms  "
          f"{'OK' if statistics.median(whole) <= 1.0 else 'MISSED'}")  # fmt: skip
    print(f"render_report alone: {_spread(render)}")
    print(f"file size: {size / 1024:.0f} KiB  target < 1024 KiB  "
          f"{'OK' if size < 1 << 20 else 'MISSED'}")  # fmt: skip


if __name__ == "__main__":
    main()
