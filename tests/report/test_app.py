"""The dashboard through Starlette's TestClient: pages, JSON, refusals of hostile input."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from checkpointing import CheckpointManager
from checkpointing.cli._serve import is_loopback
from checkpointing.report._app import create_app

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def client(demo):
    checkpoint_dir, log_dir, _ = demo
    app = create_app(checkpoint_dir=checkpoint_dir, log_dir=log_dir, allowed_hosts=["testserver"])
    with TestClient(app) as test_client:
        yield test_client


def test_runs_page_and_filters(client, demo) -> None:
    ids = demo[2]
    page = client.get("/runs")
    assert page.status_code == 200
    assert all(pid in page.text for pid in ids.values())
    only = client.get("/runs", params={"name": "nightly"}).text
    assert ids["nightly"] in only and ids["etl"] not in only
    assert "No runs match" in client.get("/runs", params={"status": "failed"}).text
    assert client.get("/", follow_redirects=False).headers["location"] == "/runs"


def test_security_headers(client) -> None:
    headers = client.get("/runs").headers
    assert headers["content-security-policy"].startswith("default-src 'none'")
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"


def test_run_page_and_json(client, demo) -> None:
    ids = demo[2]
    page = client.get(f"/runs/{ids['etl'][:-3]}")  # a unique prefix works here too
    assert page.status_code == 200
    assert page.text.count('data-status="restored"') >= 12  # 6 restored, timeline and table
    assert 'http-equiv="refresh"' not in page.text  # the run is over
    api = client.get(f"/api/runs/{ids['etl']}").json()
    assert [a["status"] for a in api["attempts"]] == ["failed", "complete"]
    listed = client.get("/api/runs", params={"status": "complete"}).json()
    assert {r["name"] for r in listed} == {"etl", "nightly", "adhoc"}


def test_checkpoints_details_and_diff(client, demo) -> None:
    checkpoint_dir, _, ids = demo
    found = CheckpointManager(checkpoint_dir).list_checkpoints(ids["nightly"])
    a, b = found[-1]["checkpoint_id"], found[0]["checkpoint_id"]
    page = client.get(f"/runs/{ids['nightly']}/checkpoints", params={"a": a, "b": b[:-3]})
    assert page.status_code == 200
    assert 'id="diff"' in page.text and "rows" in page.text
    detail = client.get(f"/checkpoints/{a}")
    assert detail.status_code == 200 and "data_hash" in detail.text


def test_events_filters(client, demo) -> None:
    ids = demo[2]
    page = client.get(f"/runs/{ids['etl']}/events", params={"type": "stage_error"})
    assert page.text.count('data-type="stage_error"') == 1
    assert 'data-type="stage_start"' not in page.text
    page = client.get(f"/runs/{ids['etl']}/events", params={"stage": "load", "level": "error"})
    assert page.text.count("<tr data-type=") == 1


@pytest.mark.parametrize(
    "path",
    [
        "/runs/%2E%2E",
        "/runs/..%2F..%2Fetc%2Fpasswd",
        "/runs/%2e%2e%2fcheckpoint_metadata.json",
        "/checkpoints/..%2Fcheckpoint_metadata",
        "/checkpoints/.hidden",
        "/api/runs/%00",
        "/runs/a%5Cb",
        "/checkpoints/" + "x" * 5000,
        "/runs/etl%2F..%2F..%2F..",
    ],
)
def test_path_traversal_is_refused(client, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code in (400, 404)
    assert "root:" not in response.text and "checkpoint_metadata" not in response.text[-2000:]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/runs", {"status": "bogus"}),
        ("/runs", {"name": "n" * 5000}),
        ("/api/runs", {"status": "<script>"}),
        ("/runs/{etl}/events", {"level": "debug"}),
        ("/runs/{etl}/events", {"type": "t" * 300}),
        ("/runs/{etl}/checkpoints", {"a": "../x", "b": "../y"}),
        ("/runs", [("name", "a"), ("name", "b")]),
    ],
)
def test_hostile_query_parameters_are_refused(client, demo, path: str, params) -> None:
    response = client.get(path.format(etl=demo[2]["etl"]), params=params)
    assert response.status_code == 400
    assert response.text.count("<script>") <= 1  # the page's own script, if a page


def test_unknown_ids_are_404_and_writes_405(client) -> None:
    assert client.get("/runs/nope").status_code == 404
    assert client.get("/api/runs/nope").json() == {"error": "no run record for pipeline id 'nope'"}
    assert client.get("/checkpoints/nope").status_code == 404
    assert client.post("/runs").status_code == 405
    assert client.delete("/api/runs").status_code == 405


def test_other_host_names_are_refused(demo) -> None:
    app = create_app(checkpoint_dir=demo[0], log_dir=demo[1])  # default: loopback names only
    with TestClient(app, base_url="http://attacker.example") as foreign:
        assert foreign.get("/runs").status_code == 400
    with TestClient(app, base_url="http://127.0.0.1:8765") as local:
        assert local.get("/runs").status_code == 200


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("192.168.1.4", False),
        ("example.org", False),
    ],
)
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


_HOLDER = textwrap.dedent(
    """
    import sys
    from checkpointing import Pipeline
    pipeline = Pipeline("live", checkpoint_dir=sys.argv[1], log_dir=sys.argv[2])
    with pipeline, pipeline.stage("slow"):
        print(pipeline.pipeline_id, flush=True)
        sys.stdin.readline()
    """
)


def test_the_page_of_a_live_run_refreshes(tmp_path: Path) -> None:
    ck, logs = tmp_path / "ck", tmp_path / "logs"
    app = create_app(checkpoint_dir=ck, log_dir=logs, allowed_hosts=["testserver"])
    with subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(ck), str(logs)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    ) as child, TestClient(app) as client:  # fmt: skip
        assert child.stdout is not None and child.stdin is not None
        pipeline_id = child.stdout.readline().strip()
        page = client.get(f"/runs/{pipeline_id}").text
        assert '<meta http-equiv="refresh" content="5">' in page
        assert 'data-status="running"' in page
        child.stdin.write("\n")
        child.stdin.close()
        assert child.wait(timeout=60) == 0
        page = client.get(f"/runs/{pipeline_id}").text
        assert 'http-equiv="refresh"' not in page
        assert 'data-status="ran"' in page


def test_serve_warns_beyond_loopback_and_binds_loopback_by_default() -> None:
    from checkpointing.cli._main import _parser

    args = _parser().parse_args(["serve"])
    assert (args.host, args.port) == ("127.0.0.1", 8765)
