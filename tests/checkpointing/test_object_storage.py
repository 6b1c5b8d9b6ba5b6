"""What only an object store has: URLs, request counts, conditional writes, the CLI on ``s3://``.

S3 is moto's standalone server on 127.0.0.1 (tests/_s3.py); a store that ignores conditional
writes is a small WebDAV-like HTTP server started by the test.
"""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pytest

from checkpointing import CheckpointManager, StorageError
from checkpointing.storage import ObjectStorage, is_object_url, open_storage
from tests._processes import checkpointing_cli

ROOT = Path(__file__).resolve().parents[2]
FRAME = pd.DataFrame({"n": range(100), "x": [i / 3 for i in range(100)]})


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {
        k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)
    }


def test_a_save_is_two_puts_and_latest_is_one_list(s3_url: str) -> None:
    manager = CheckpointManager(s3_url)
    storage = manager.storage
    assert isinstance(storage, ObjectStorage)
    first = manager.save_checkpoint("etl", "extract", FRAME)  # probe, marker, pipeline marker
    before = storage.request_counts
    second = manager.save_checkpoint("etl", "extract", FRAME)
    assert _delta(before, storage.request_counts) == {"PUT": 2}

    fresh = CheckpointManager(s3_url)  # a new process knows nothing yet
    assert fresh.get_latest_checkpoint("etl") == second
    assert fresh.storage.request_counts == {"LIST": 1}  # type: ignore[attr-defined]
    before = fresh.storage.request_counts  # type: ignore[attr-defined]
    fresh.load_checkpoint(first)
    assert _delta(before, fresh.storage.request_counts) == {"GET": 2}  # type: ignore[attr-defined]


def test_the_data_object_is_plain_parquet_and_the_manifest_publishes_its_sha256(
    s3_url: str,
) -> None:
    import hashlib
    import io

    manager = CheckpointManager(s3_url)
    checkpoint_id = manager.save_checkpoint("etl", "extract", FRAME)
    data = manager.storage.read_bytes(checkpoint_id + ".parquet")
    state = manager.get_state(checkpoint_id)
    assert state["data_file"] == checkpoint_id + ".parquet"
    assert state["data_size"] == len(data)
    assert state["data_hash"] == hashlib.sha256(data).hexdigest()
    pd.testing.assert_frame_equal(pd.read_parquet(io.BytesIO(data)), FRAME)


def test_an_object_url_without_obstore_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['obstore'] = None\n"
        "from checkpointing import CheckpointManager, StorageError\n"
        "try:\n"
        "    CheckpointManager('s3://bucket/checkpoints')\n"
        "except StorageError as e:\n"
        "    print(e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert "pip install 'stagepoint[s3]'" in done.stdout
    assert not (ROOT / "s3:").exists()


def test_urls_are_recognised_and_anything_else_is_a_directory(tmp_path: Path) -> None:
    assert is_object_url("s3://b/p") and is_object_url("gs://b") and is_object_url("az://c/p")
    assert not is_object_url(str(tmp_path)) and not is_object_url("s3:/b")
    with pytest.raises(ValueError, match="unsupported store URL scheme 'ftp'"):
        CheckpointManager("ftp://host/x")
    with pytest.raises(ValueError, match="object store URLs only"):
        CheckpointManager(tmp_path, storage_options={"region": "x"})
    local = CheckpointManager(f"file://{tmp_path}/ck")
    local.save_checkpoint("etl", "s", FRAME)
    assert (tmp_path / "ck").is_dir()


def test_a_missing_bucket_is_a_storage_error(s3_endpoint: str) -> None:
    manager = CheckpointManager("s3://no-such-bucket/checkpoints")
    with pytest.raises(StorageError, match="no-such-bucket"):
        manager.save_checkpoint("etl", "s", FRAME)
    with pytest.raises(StorageError):
        manager.list_checkpoints("etl")


def test_bad_storage_options_are_a_storage_error(s3_endpoint: str) -> None:
    with pytest.raises(StorageError, match="cannot open"):
        CheckpointManager("s3://bucket/x", storage_options={"no_such_option": 1})


# -- a store without conditional writes ------------------------------------------------------


class _PlainObjects(http.server.BaseHTTPRequestHandler):
    """GET, HEAD, PUT and DELETE of whole objects; no conditional requests, no listing."""

    objects: ClassVar[dict[str, bytes]] = {}

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: bytes = b"") -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", f'"{hash(body) & 0xFFFF:x}"')
        self.send_header("Last-Modified", self.date_time_string())
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        body = self.objects.get(self.path)
        self._answer(404) if body is None else self._answer(200, body)

    do_HEAD = do_GET

    def do_PUT(self) -> None:
        self.objects[self.path] = self.rfile.read(int(self.headers["Content-Length"] or 0))
        self._answer(201)

    def do_DELETE(self) -> None:
        self.objects.pop(self.path, None)
        self._answer(204)


@pytest.fixture
def plain_store() -> Iterator[str]:
    """An HTTP object store on 127.0.0.1 that ignores conditional writes."""
    _PlainObjects.objects = {}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PlainObjects)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _http_storage(url: str, **kwargs: Any) -> ObjectStorage:
    from obstore.store import HTTPStore

    return ObjectStorage(
        HTTPStore.from_url(url, client_options={"allow_http": True}), location=url, **kwargs
    )


def test_a_store_without_conditional_writes_is_refused(plain_store: str) -> None:
    storage = _http_storage(plain_store)
    with pytest.raises(StorageError, match="does not honour conditional writes"):
        storage.write_json_new("a.json", {"by": 1})
    assert not [k for k in _PlainObjects.objects if not k.startswith("/stagepoint.probe")]


def test_unsafe_single_writer_accepts_it_and_keeps_create_if_absent_for_one_writer(
    plain_store: str,
) -> None:
    storage = _http_storage(plain_store, unsafe_single_writer=True)
    assert storage.write_json_new("a.json", {"by": 1}) is True
    assert storage.write_json_new("a.json", {"by": 2}) is False
    assert storage.read_json("a.json") == {"by": 1}
    data = storage.stage_bytes("c.parquet", b"data")
    storage.commit(data, storage.stage_json("c.json", {"n": 1}))
    assert storage.read_bytes("c.parquet") == b"data"


# -- the command line ----------------------------------------------------------------------------


def test_the_cli_works_on_an_s3_store(s3_url: str, tmp_path: Path) -> None:
    manager = CheckpointManager(s3_url)
    first = manager.save_checkpoint("etl", "extract", FRAME)
    second = manager.save_checkpoint("etl", "extract", FRAME.assign(x=FRAME["x"] + 1))
    listed = checkpointing_cli("--dir", s3_url, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert {e["checkpoint_id"] for e in json.loads(listed.stdout)} == {first, second}
    shown = checkpointing_cli("--dir", s3_url, "show", first, "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["rows"] == 100
    verified = checkpointing_cli("verify", "--dir", s3_url)
    assert verified.returncode == 0, verified.stderr
    diff = checkpointing_cli("--dir", s3_url, "diff", first, second)
    assert diff.returncode == 0 and "x 0.666667 -> 1.66667" in diff.stdout
    dry = checkpointing_cli(
        "--dir", s3_url, "cleanup", "--retention-days", "0", "--dry-run", "--json"
    )
    assert dry.returncode == 0, dry.stderr
    assert sorted(json.loads(dry.stdout)["checkpoints"]) == sorted([first, second])
    assert len(manager.list_checkpoints()) == 2

    manager.storage.write_bytes_atomic(first + ".parquet", b"not parquet")
    damaged = checkpointing_cli("--dir", s3_url, "verify")
    assert damaged.returncode == 1 and first in damaged.stdout + damaged.stderr
    empty = checkpointing_cli("--dir", s3_url + "-nothing-here", "list")
    assert empty.returncode == 1 and "empty or does not exist" in empty.stderr
    missing = checkpointing_cli("--dir", "s3://no-such-bucket/x", "list")
    assert missing.returncode == 1 and missing.stderr.startswith("error: s3://no-such-bucket")


def test_open_storage_of_memory_urls_shares_one_store_per_url() -> None:
    a = open_storage("memory://shared-by-url")
    a.write_json_atomic("x.json", {"n": 1})
    assert open_storage("memory://shared-by-url").read_json("x.json") == {"n": 1}
    assert not open_storage("memory://another").exists("x.json")


def test_a_large_data_object_is_uploaded_in_parts_and_loads_verified(
    s3_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    from checkpointing.storage import _object

    monkeypatch.setattr(_object, "_MULTIPART", 1 << 20)  # parts above 1 MiB instead of 64 MiB
    rng = np.random.default_rng(7)
    big = pd.DataFrame({"x": rng.random(1_500_000), "y": rng.integers(0, 1 << 40, 1_500_000)})
    manager = CheckpointManager(s3_url)
    manager.save_checkpoint("etl", "warm", FRAME)
    storage = manager.storage
    assert isinstance(storage, ObjectStorage)
    before = storage.request_counts
    checkpoint_id = manager.save_checkpoint("etl", "big", big)
    assert manager.get_state(checkpoint_id)["data_size"] > 10 << 20
    assert _delta(before, storage.request_counts)["PUT"] == 2  # counted once per upload
    pd.testing.assert_frame_equal(manager.load_checkpoint(checkpoint_id)["data"], big)
    manager.verify_checkpoint(checkpoint_id)


def test_a_save_on_an_object_store_reports_its_upload_phase(s3_url: str) -> None:
    manager = CheckpointManager(s3_url)
    timings: dict[str, float] = {}
    manager.save_checkpoint("etl", "s", FRAME, timings=timings)
    assert {"encode", "upload", "manifest"} <= set(timings)
    assert not {"fsync", "rename"} & set(timings)  # nothing of the kind happens here
