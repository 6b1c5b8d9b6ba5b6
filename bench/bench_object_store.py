"""Checkpoints on S3 (moto's server on 127.0.0.1) against bare obstore calls, and request counts.

    python -m bench.bench_object_store [--rows 1000000] [--repeat 5]

* save of an OHLCV frame vs ``obstore.put`` of the same Parquet bytes (the upload alone), and vs
  ``pq.write_table`` into memory + ``obstore.put`` (writing the Parquet object yourself);
* verified load vs ``obstore.get`` + ``pq.read_table(...).to_pandas()``;
* the requests each operation makes, counted by the backend.

The server runs in this process (moto is pure Python), so both sides pay the same for it; the
figures are for loopback and say nothing of a real network's latency, where the request counts
are what matters.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from bench._common import measure_pair, report
from bench.bench_store import ohlcv
from checkpointing import CheckpointManager

T = TypeVar("T")

BUCKET = "stagepoint-bench"


def _start_server() -> tuple[object, str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_REGION="us-east-1",
        AWS_ALLOW_HTTP="true",
    )
    request = urllib.request.Request(f"{endpoint}/{BUCKET}", method="PUT", data=b"")
    with urllib.request.urlopen(request, timeout=30):
        pass
    return server, endpoint


def _requests(title: str, manager: CheckpointManager, operation: Callable[[], T]) -> T:
    """Run ``operation`` and print the requests it made to the store, by kind."""
    storage: Any = manager.storage
    before = storage.request_counts  # a copy
    result = operation()
    after = storage.request_counts
    changed = {k: after.get(k, 0) - before.get(k, 0) for k in sorted(after)}
    made = ", ".join(f"{n} {k}" for k, n in changed.items() if n) or "none"
    print(f"requests: {title}: {made}")
    return result


def bench_save_load(rows: int, repeat: int) -> None:
    import obstore
    from obstore.store import from_url

    url = f"s3://{BUCKET}/store"
    manager = CheckpointManager(url)
    store = from_url(f"s3://{BUCKET}/peer")
    df = ohlcv(rows)
    kept = manager.save_checkpoint("bench", "kept", df)
    data = manager.storage.read_bytes(kept + ".parquet")
    print(f"{rows:,}-row OHLCV frame, {len(data) / 2**20:.1f} MiB of Parquet")
    saved: list[str] = []

    def ours() -> None:
        saved.append(manager.save_checkpoint("bench", "save", df))

    def upload() -> None:
        obstore.put(store, "same-bytes.parquet", data)

    def encode_and_upload() -> None:
        out = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(df), out)
        obstore.put(store, "own.parquet", out.getvalue())

    def tidy() -> None:  # keep moto's memory flat: remove what the last round wrote
        while saved:
            manager.delete_checkpoint(saved.pop())

    report(f"save {rows:,} rows", *measure_pair(ours, upload, repeat=repeat, setup=tidy,
         labels=("stagepoint", "obstore.put of the same bytes")), target=1.15)  # fmt: skip
    report(f"save {rows:,} rows", *measure_pair(ours, encode_and_upload, repeat=repeat, setup=tidy,
         labels=("stagepoint", "write_table + obstore.put")))  # fmt: skip
    tidy()

    obstore.put(store, "same-bytes.parquet", data)

    def load() -> None:
        manager.load_checkpoint(kept)

    def peer_load() -> None:
        got = obstore.get(store, "same-bytes.parquet").bytes()
        pq.read_table(pa.BufferReader(pa.py_buffer(got))).to_pandas()

    report(f"verified load {rows:,} rows", *measure_pair(load, peer_load, repeat=repeat,
         labels=("stagepoint", "obstore.get + read_table")), target=1.15)  # fmt: skip


def request_counts() -> None:
    url = f"s3://{BUCKET}/counts"
    small = ohlcv(250)
    manager = CheckpointManager(url)
    first = _requests(
        "first save of a process (probe, marker)",
        manager,
        lambda: manager.save_checkpoint("etl", "extract", small),
    )
    _requests("save", manager, lambda: manager.save_checkpoint("etl", "extract", small))
    for i in range(20):
        manager.save_checkpoint("etl", f"stage{i}", small)
    fresh = CheckpointManager(url)
    _requests("latest of a pipeline", fresh, lambda: fresh.get_latest_checkpoint("etl"))
    _requests("load", fresh, lambda: fresh.load_checkpoint(first))
    _requests("list one pipeline of 22 checkpoints", fresh, lambda: fresh.list_checkpoints("etl"))
    _requests("delete", fresh, lambda: fresh.delete_checkpoint(first))
    _requests(
        "cleanup of one pipeline, nothing expired",
        fresh,
        lambda: fresh.cleanup_old_checkpoints(retention_days=7, pipeline_id="etl"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    server, _ = _start_server()
    try:
        request_counts()
        bench_save_load(args.rows, args.repeat)
    finally:
        server.stop()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
