"""Cost of alerts on the pipeline: a failing run that alerts a dead endpoint vs the same run
without alerts.

Run: ``.venv/bin/python -m bench.bench_alerts [--repeat N]``

Each sample is one whole run: ``Pipeline(...)``, ``with pipeline:``, a stage that checkpoints a
250-row frame, a stage that raises, the exit (events, run record, alert queued); and, to make the
alert's share visible, a lighter run without checkpoints (events only, the stage raises at once).
The alert goes to an endpoint that never delivers, in two forms:

1. a closed port on 127.0.0.1 (connection refused at once; 3 attempts, 1 s and 2 s apart);
2. a hung endpoint: a listening socket that never answers (each attempt waits for the send
   timeout).

The rate limit is off (``alert_window=0``) so that every run's alert is really sent. Sending
happens on the alert threads while the next runs go on; what the pipeline pays is composing and
queueing the alert. The peer is the same run with ``alerts=None``, interleaved.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from bench._common import Timing, measure_pair, report
from checkpointing import Pipeline


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"close": rng.random(250), "volume": rng.integers(0, 10**6, 250)})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(work: Path, frame: pd.DataFrame | None, alerts: list[str] | None) -> None:
    pipeline = Pipeline(
        "bench",
        checkpoint_dir=work / "ckpt",
        log_dir=work / "logs",
        checkpoints=frame is not None,
        cleanup=False,
        alerts=alerts,
        alert_window=0,
    )
    try:
        with pipeline:
            if frame is not None:
                with pipeline.stage("extract") as s:
                    s.checkpoint(frame)
            with pipeline.stage("transform"):
                raise ValueError("bench failure")
    except ValueError:
        pass


def _spread(timing: Timing) -> str:
    return f"{min(timing.samples) * 1e3:.1f} to {max(timing.samples) * 1e3:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=40)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-alerts-"))
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(1024)  # accepts connections in the kernel, never reads: a hung endpoint
    endpoints = {
        "closed port": f"json://127.0.0.1:{_free_port()}/dead",
        "hung endpoint": f"json://127.0.0.1:{hung.getsockname()[1]}/hung",
    }
    frame = _frame()
    try:
        for kind, data in (("with a checkpoint", frame), ("events only", None)):
            for label, url in endpoints.items():
                alerted: Callable[[], None] = partial(_run, work, data, [url])
                bare: Callable[[], None] = partial(_run, work, data, None)
                ours, peer = measure_pair(
                    alerted,
                    bare,
                    repeat=args.repeat,
                    labels=(f"alerts to a {label}", "no alerts"),
                )
                report(f"failing run {kind}, {label}", ours, peer)
                print(f"  spread: with alerts {_spread(ours)}, without {_spread(peer)}")
    finally:
        hung.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
