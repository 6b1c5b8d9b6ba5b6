"""Cost of the pipeline layer: an empty stage, and a checkpointed stage over the bare save.

Run: ``.venv/bin/python -m bench.bench_pipeline [--repeat N]``

1. An empty ``with pipeline.stage(...)`` (stage_start and stage_complete events with the stage's
   timings, the logging context, the state machine) against ONE python-json-logger record
   written to a ``logging.FileHandler``. Target: <= 5x. Then the same with an OpenTelemetry
   tracer provider configured (the SDK, spans handed to a processor that drops them), and the
   cost of the stage's own timings (two getrusage calls and four clock readings) alone.
2. A stage that checkpoints a 10,000-row frame against ``CheckpointManager.save_checkpoint`` of
   the same frame (the difference is the events and the run-record update).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pythonjsonlogger import json as pjl_json

from bench._common import measure_pair, report
from checkpointing import CheckpointManager, Pipeline
from checkpointing.pipeline._profiling import Clock

BATCH = 200


def _frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "open": rng.random(rows),
            "high": rng.random(rows),
            "low": rng.random(rows),
            "close": rng.random(rows),
            "volume": rng.integers(0, 10**6, rows),
        }
    )


def _peer_logger(path: Path) -> logging.Logger:
    handler = logging.FileHandler(path)
    handler.setFormatter(pjl_json.JsonFormatter("%(levelname)s %(name)s %(message)s"))
    peer = logging.getLogger("bench.peer")
    peer.handlers[:] = [handler]
    peer.setLevel(logging.INFO)
    peer.propagate = False
    return peer


def _timings_cost() -> None:
    """What a stage's own timings cost: a Clock started and read, as a stage does."""
    rounds = 20_000
    start = time.perf_counter()
    for _ in range(rounds):
        Clock().read()
    per = (time.perf_counter() - start) / rounds
    print(f"  the stage's timings alone (Clock start + read): {per * 1e6:.2f} us per stage")


def _with_otel(work: Path, peer_records: Callable[[], None], repeat: int) -> None:
    """The empty stage again, with an OpenTelemetry SDK tracer provider configured."""
    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
    except ImportError:
        print("  with OpenTelemetry: skipped (pip install opentelemetry-sdk)")
        return

    class Drop(SpanExporter):
        def export(self, spans: object) -> Any:
            from opentelemetry.sdk.trace.export import SpanExportResult

            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Drop()))
    traced = Pipeline(
        "bench_otel", checkpoint_dir=work / "ckpt", log_dir=work / "logs", cleanup=False,
        tracer_provider=provider,
    )  # fmt: skip

    def traced_stages() -> None:
        for _ in range(BATCH):
            with traced.stage("empty"):
                pass

    ours, theirs = measure_pair(
        traced_stages, peer_records, repeat=repeat, labels=("traced empty stage", "pjl record")
    )
    report(f"empty stage with OpenTelemetry vs one pjl record (per op, x{BATCH})", ours, theirs)
    provider.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    try:
        pipeline = Pipeline(
            "bench", checkpoint_dir=work / "ckpt", log_dir=work / "logs", cleanup=False
        )
        peer = _peer_logger(work / "peer.log")
        meta = {"event_type": "stage_complete", "pipeline_id": pipeline.pipeline_id}

        def empty_stages() -> None:
            for _ in range(BATCH):
                with pipeline.stage("empty"):
                    pass

        def peer_records() -> None:
            for _ in range(BATCH):
                peer.info("stage_complete", extra=meta)

        ours, theirs = measure_pair(
            empty_stages, peer_records, repeat=args.repeat, labels=("empty stage", "pjl record")
        )
        report(f"empty stage vs one pjl record (per op, x{BATCH})", ours, theirs, target=5.0)
        _timings_cost()
        _with_otel(work, peer_records, args.repeat)

        df = _frame(10_000)
        manager = CheckpointManager(work / "bare")

        def checkpointed_stage() -> None:
            with pipeline.stage("save") as s:
                s.checkpoint(df)

        def bare_save() -> None:
            manager.save_checkpoint(pipeline.pipeline_id, "save", df)

        ours, theirs = measure_pair(
            checkpointed_stage,
            bare_save,
            repeat=args.repeat,
            labels=("checkpointed stage", "save_checkpoint"),
        )
        report("checkpointed stage (10k rows) vs bare save_checkpoint", ours, theirs)
        print(f"  overhead per checkpointed stage: {(ours.median - theirs.median) * 1e3:.2f} ms")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
