"""``Pipeline.map`` on a 2-worker Dask LocalCluster against bare Dask doing the same work.

Run: ``.venv/bin/python -m bench.bench_map [--repeat N] [--items N]``

1. 16 items, each a 200,000-row OHLCV frame computed on a worker: ``pipeline.map`` (each
   worker saves a verified checkpoint, commits it, and the frames come back to the driver)
   against ``client.map`` of a function that computes the frame, writes it with
   ``DataFrame.to_parquet`` on the worker and returns it, then ``client.gather``. Target <= 1.2x.
   The same with ``collect=False`` (checkpoint ids back) against the peer returning paths, and
   against a durable peer that also fsyncs each file and its directory (as a checkpoint is).
2. The per-item overhead: a function returning a one-row frame, ``pipeline.map`` against bare
   ``client.map`` + ``gather`` of the same function, per item.

Both sides run on the same cluster, interleaved; each sample of ours is a fresh run of a fresh
``Pipeline`` (new checkpoints); the files of both sides are deleted between samples.
"""

from __future__ import annotations

import argparse
import functools
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench import _map_work as work
from bench._common import measure_pair, report
from checkpointing import Pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--items", type=int, default=16)
    parser.add_argument("--tiny-items", type=int, default=64)
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    root = Path(tempfile.mkdtemp(prefix="bench-map-"))
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            # no dashboard; its bare HTTP server on a free port of 127.0.0.1, never :8787
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        ) as cluster,
        Client(cluster) as client,
    ):
        state: dict[str, Any] = {}

        def fresh() -> None:
            for name in ("ckpt", "logs", "peer"):
                shutil.rmtree(root / name, ignore_errors=True)
            (root / "peer").mkdir()
            state["pipeline"] = Pipeline(
                "bench", checkpoint_dir=root / "ckpt", log_dir=root / "logs", cleanup=False
            )

        items = list(range(args.items))
        peer_dir = str(root / "peer")

        def ours(collect: bool) -> None:
            with state["pipeline"] as pipeline:
                pipeline.map("fetch", work.ohlcv, items, executor=client, collect=collect)

        def peer(fn: Any) -> None:
            client.gather(client.map(functools.partial(fn, peer_dir), items, pure=False))

        try:
            pairs = (
                (True, work.ohlcv_to_parquet, "client.map+to_parquet", 1.2),
                (False, work.ohlcv_path, "client.map+to_parquet", 1.2),
                (False, work.ohlcv_path_durable, "client.map+to_parquet+fsync", None),
            )
            for collect, peer_fn, label, target in pairs:
                mine, theirs = measure_pair(
                    functools.partial(ours, collect),
                    functools.partial(peer, peer_fn),
                    repeat=args.repeat,
                    labels=("pipeline.map", label),
                    setup=fresh,
                )
                rows = f"{args.items} x {work.ROWS:,} rows, collect={collect}"
                report(f"pipeline.map vs {label} ({rows})", mine, theirs, target=target)
                ratios = [a / b for a, b in zip(mine.samples, theirs.samples, strict=True)]
                print(f"  per-pair ratios: min {min(ratios):.2f}x, max {max(ratios):.2f}x")

            tiny_items = list(range(args.tiny_items))

            def ours_tiny() -> None:
                with state["pipeline"] as pipeline:
                    pipeline.map("tiny", work.tiny, tiny_items, executor=client)

            def peer_tiny() -> None:
                client.gather(client.map(work.tiny, tiny_items, pure=False))

            mine, theirs = measure_pair(
                ours_tiny,
                peer_tiny,
                repeat=args.repeat,
                labels=("pipeline.map", "client.map"),
                setup=fresh,
            )
            report(f"trivial fn, {args.tiny_items} items", mine, theirs)
            per_item = [
                (a - b) / args.tiny_items for a, b in zip(mine.samples, theirs.samples, strict=True)
            ]
            print(
                f"  overhead per item: median {statistics.median(per_item) * 1e3:.2f} ms, "
                f"min-max {min(per_item) * 1e3:.2f}-{max(per_item) * 1e3:.2f} ms"
            )
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
