"""Pipeline alerts: one notification per failed run, off the pipeline's thread, secrets hidden.

Alerts go to real servers bound to 127.0.0.1 and started by the tests (see tests/_servers.py).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from checkpointing import ConfigError, Pipeline, write_report
from checkpointing.pipeline._alerts import wait_for_alerts
from logging_ext import redact_url
from tests._servers import Mailbox, Webhook, free_port
from tests.pipeline._helpers import events, frame

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    server = Webhook()
    yield server
    server.close()


def _pipeline(tmp_path: Path, **options: Any) -> Pipeline:
    options.setdefault("checkpoint_dir", tmp_path / "ckpt")
    options.setdefault("log_dir", tmp_path / "logs")
    return Pipeline(options.pop("name", "etl"), **options)


def _fail(pipeline: Pipeline, stage: str = "transform", error: Exception | None = None) -> None:
    """Run ``extract`` then fail in ``stage`` inside ``with pipeline:``."""
    with pytest.raises(type(error) if error else ValueError), pipeline:
        with pipeline.stage("extract") as s:
            s.checkpoint(frame())
        with pipeline.stage(stage):
            raise error or ValueError("3 rows have a negative close")


def _settled() -> None:
    assert wait_for_alerts(120)


def test_a_failed_run_sends_one_alert_naming_stage_error_duration_and_resume(
    tmp_path: Path, webhook: Webhook
) -> None:
    pipeline = _pipeline(tmp_path, alerts=[webhook.url("failed")])
    _fail(pipeline)
    _settled()
    received = webhook.all()
    assert len(received) == 1
    sent = received[0]["json"]
    run = pipeline.pipeline_id
    assert sent["type"] == "failure"
    assert sent["title"] == (
        "etl: run failed in stage transform: ValueError: 3 rows have a negative close"
    )
    lines = sent["message"].splitlines()
    assert "Pipeline: etl" in lines
    assert f"Run: {run}" in lines
    assert "Failed stage: transform" in lines
    assert "Error: ValueError: 3 rows have a negative close" in lines
    assert any(line.startswith("Duration: ") and line.endswith(" s") for line in lines)
    assert f"Resume: Pipeline('etl', pipeline_id={run!r}) continues this run; " in sent["message"]
    queued = [e for e in events(tmp_path / "logs", run) if e["event_type"].startswith("alert")]
    assert [(e["event_type"], e["metadata"]["outcome"]) for e in queued] == [
        ("alert_queued", "failure")
    ]
    assert queued[0]["metadata"]["endpoints"] == [webhook.url("failed")]


def test_a_successful_run_sends_nothing_unless_success_is_asked_for(
    tmp_path: Path, webhook: Webhook
) -> None:
    with _pipeline(tmp_path, alerts=[webhook.url("quiet")]) as p, p.stage("extract") as s:
        s.checkpoint(frame())
    _settled()
    assert webhook.all() == []
    assert not [e for e in events(tmp_path / "logs") if e["event_type"].startswith("alert")]

    asked = _pipeline(tmp_path, alerts=[webhook.url("loud")], alerts_on=["failure", "success"])
    with asked, asked.stage("extract") as s:
        s.checkpoint(frame())
    _settled()
    received = webhook.all()
    assert len(received) == 1
    assert received[0]["json"]["type"] == "success"
    assert received[0]["json"]["title"].startswith("etl: run completed in ")
    assert f"Run: {asked.pipeline_id}" in received[0]["json"]["message"]


def test_stages_without_with_pipeline_alert_when_closed_after_a_failure(
    tmp_path: Path, webhook: Webhook
) -> None:
    pipeline = _pipeline(tmp_path, alerts=[webhook.url("close")], checkpoints=False)
    with pytest.raises(KeyError), pipeline.stage("load"):
        raise KeyError("MSFT")
    pipeline.close()
    pipeline.close()  # idempotent: still one alert
    untouched = _pipeline(tmp_path, alerts=[webhook.url("close")])
    untouched.close()  # never started: nothing to say
    _settled()
    received = webhook.all()
    assert len(received) == 1
    assert received[0]["json"]["title"] == "etl: run failed in stage load: KeyError: 'MSFT'"
    assert "Resume: checkpoints are disabled: nothing to resume" in received[0]["json"]["message"]


def test_an_error_outside_any_stage_is_a_failed_run_too(tmp_path: Path, webhook: Webhook) -> None:
    pipeline = _pipeline(tmp_path, alerts=[webhook.url("outside")], resume_hint="rerun nightly.sh")
    with pytest.raises(OSError), pipeline:
        raise OSError("disk full")
    _settled()
    sent = webhook.next()["json"]
    assert sent["title"] == "etl: run failed outside any stage: OSError: disk full"
    assert "Failed stage: (outside any stage)" in sent["message"]
    assert "Resume: rerun nightly.sh" in sent["message"]


def test_a_slow_endpoint_does_not_delay_the_end_of_the_run(tmp_path: Path) -> None:
    gate, order = threading.Event(), list[str]()
    slow = Webhook(gate=gate, hold=5.0, order=order)
    try:
        _fail(_pipeline(tmp_path, alerts=[slow.url("slow")]))
        order.append("run ended")  # the endpoint answers after 5 s, or when the gate opens
        gate.set()
        _settled()
        assert order == ["run ended", "answered"]
        assert len(slow.all()) == 1
    finally:
        gate.set()
        slow.close()


def test_a_closed_port_does_not_delay_the_run_and_is_reported_once_in_the_logs(
    tmp_path: Path, webhook: Webhook
) -> None:
    dead = f"json://127.0.0.1:{free_port()}/{tmp_path.name}"
    first = _pipeline(tmp_path, alerts=[dead, webhook.url("alive")])
    _fail(first)
    # The run has ended; the alert is still being tried (3 attempts, 1 s and 2 s apart).
    assert [e["event_type"] for e in events(tmp_path / "logs", first.pipeline_id)][-1] == (
        "alert_queued"
    )
    _settled()
    second = _pipeline(tmp_path, alerts=[dead, webhook.url("alive")])
    _fail(second, error=ValueError("another failure"))
    _settled()
    assert len(webhook.all()) == 2  # the live endpoint got both
    reports = [e for e in events(tmp_path / "logs") if e["event_type"] == "alert_failed"]
    assert len(reports) == 1
    assert reports[0]["pipeline_id"] == first.pipeline_id
    assert reports[0]["status"] == "warning"
    problem = reports[0]["metadata"]["problem"]
    assert problem.startswith(f"alert to {redact_url(dead)} failed after 3 attempts: ")
    pipeline_log = (tmp_path / "logs" / "pipeline.log").read_text().splitlines()
    assert len([line for line in pipeline_log if '"alert_failed"' in line]) == 1


def test_the_same_failure_again_within_the_window_is_counted_not_sent(
    tmp_path: Path, webhook: Webhook
) -> None:
    url = webhook.url("window")
    for _ in range(2):
        _fail(_pipeline(tmp_path, alerts=[url], alert_window=2.0))
    _fail(_pipeline(tmp_path, alerts=[url], alert_window=2.0), stage="load")  # another stage
    time.sleep(2.1)  # the window of the first failure passes
    _fail(_pipeline(tmp_path, alerts=[url], alert_window=2.0))
    _settled()
    messages = [r["json"] for r in webhook.all()]
    assert [m["title"].split(":")[1] for m in messages] == [
        " run failed in stage transform",
        " run failed in stage load",
        " run failed in stage transform",
    ]
    assert "suppressed" not in messages[0]["message"]
    assert "The same alert was suppressed 1 more time since" in messages[2]["message"]


def test_processes_share_the_window_through_the_log_directory(
    tmp_path: Path, webhook: Webhook
) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from checkpointing import Pipeline
        pipeline = Pipeline("cron", checkpoint_dir={str(tmp_path / "ckpt")!r},
                            log_dir={str(tmp_path / "logs")!r}, alerts=[{webhook.url("cron")!r}])
        try:
            with pipeline, pipeline.stage("fetch"):
                raise ConnectionError(sys.argv[1])
        except ConnectionError:
            sys.exit(1)
        """
    )
    for message in ("quotes API down", "quotes API down", "quotes API down", "auth expired"):
        result = subprocess.run(
            [sys.executable, "-c", script, message],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 1, result.stderr
    titles = [r["json"]["title"] for r in webhook.all()]
    assert titles == [
        "cron: run failed in stage fetch: ConnectionError: quotes API down",
        "cron: run failed in stage fetch: ConnectionError: auth expired",
    ]
    assert (tmp_path / "logs" / "alerts" / "state.json").is_file()


def _record(ckpt: Path, name: str, index: int, seconds: float, **fields: Any) -> None:
    """A completed run's record, as an earlier run of ``name`` left it."""
    started = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=index)
    pipeline_id = f"{name}_{started:%Y%m%d_%H%M%S}_000000{index:012x}"
    record = {
        "name": name,
        "pipeline_id": pipeline_id,
        "status": "complete",
        "started_at": started.isoformat(),
        "finished_at": (started + timedelta(seconds=seconds)).isoformat(),
        "stages": [],
        "attempts": 1,
        "host": "h",
        "pid": 1,
        "error": None,
    } | fields
    (ckpt / "runs").mkdir(parents=True, exist_ok=True)
    (ckpt / "runs" / f"{pipeline_id}.json").write_text(json.dumps(record))


@pytest.mark.parametrize(
    ("history", "alerted"),
    [
        ([0.01] * 5, True),  # this run sleeps 0.2 s: 20x the median
        ([100.0] * 5, False),  # far faster than usual
        ([0.01] * 4, False),  # too little history to judge
        ([0.01] * 3 + [100.0] * 2 + [0.01] * 2, True),  # the median ignores outliers
    ],
)
def test_a_run_slower_than_the_median_of_its_last_runs_is_reported(
    tmp_path: Path, webhook: Webhook, history: list[float], alerted: bool
) -> None:
    for index, seconds in enumerate(history):
        _record(tmp_path / "ckpt", "etl", index, seconds)
    _record(tmp_path / "ckpt", "etl", 50, 0.01, attempts=2)  # resumed: not comparable
    _record(tmp_path / "ckpt", "etl", 51, 0.01, status="failed")  # failed: not comparable
    pipeline = _pipeline(tmp_path, alerts=[webhook.url("slow")], alerts_on=["failure", "slow"])
    with pipeline, pipeline.stage("extract"):
        time.sleep(0.2)
    _settled()
    received = webhook.all()
    assert len(received) == int(alerted)
    if alerted:
        sent = received[0]["json"]
        assert sent["type"] == "warning"
        assert sent["title"].startswith("etl: run took ")
        assert "x the median 0.0 s of its last" in sent["title"]
        assert "Threshold: 3x the median" in sent["message"]


def test_an_email_names_the_failed_run(tmp_path: Path) -> None:
    mailbox = Mailbox(user="pipeline", password="pw-Mail-2290")
    try:
        pipeline = _pipeline(
            tmp_path, alerts=[mailbox.url(user="pipeline", password="pw-Mail-2290")]
        )
        _fail(pipeline)
        message = mailbox.next()
        _settled()
        assert message["Subject"] == (
            "etl: run failed in stage transform: ValueError: 3 rows have a negative close"
        )
        parts = [message] if not message.is_multipart() else list(message.walk())
        body = b"".join(
            payload for part in parts if isinstance(payload := part.get_payload(decode=True), bytes)
        )
        assert f"Run: {pipeline.pipeline_id}".encode() in body
        assert mailbox.logins == ["pipeline"]
    finally:
        mailbox.close()


def test_secrets_of_alert_urls_reach_no_log_event_record_error_or_report(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secrets = ["pw-Secret-5531", "tokA9xQ2Secret", "Zq81keySecret"]
    webhook = Webhook()
    try:
        urls = [
            webhook.url(f"hooks/{secrets[1]}", auth=f"svc:{secrets[0]}"),
            f"json://svc:{secrets[0]}@127.0.0.1:{free_port()}/x/{secrets[1]}?token={secrets[2]}",
        ]
        with caplog.at_level(logging.DEBUG):
            pipeline = _pipeline(tmp_path, alerts=urls)
            _fail(pipeline)
            _settled()
            with pytest.raises(ValueError) as refused:
                _pipeline(
                    tmp_path, alerts=[f"nosuch://svc:{secrets[0]}@host.example.com/{secrets[1]}"]
                )
        assert webhook.next()["headers"]["Authorization"]  # the secret was used, not logged
    finally:
        webhook.close()
    report = write_report(
        pipeline.pipeline_id,
        tmp_path / "report.html",
        checkpoint_dir=tmp_path / "ckpt",
        log_dir=tmp_path / "logs",
    )
    texts = [caplog.text, str(refused.value), report.read_text()]
    texts += [p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()]
    assert any("alert_failed" in t for t in texts)
    for text in texts:
        for secret in secrets:
            assert secret not in text


def test_config_files_name_the_alerts_and_expand_variables(
    tmp_path: Path, webhook: Webhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERT_PATH", "from-env")
    config = {
        "pipeline": {
            "execution": {"checkpoints": {"checkpoint_dir": str(tmp_path / "ckpt")}},
            "logging": {"log_file": str(tmp_path / "logs" / "pipeline.log")},
            "alerts": [webhook.url("${ALERT_PATH}")],
            "alerts_on": ["failure"],
            "alert_window": 60,
            "slow_factor": 4,
            "slow_min_runs": 3,
        }
    }
    _fail(Pipeline.from_config(config, name="etl"))
    _settled()
    assert webhook.next()["path"] == "/from-env"

    config["pipeline"]["alerts"] = ["json://user:pw-Config-77@example.com/$UNSET_ALERT_VAR"]
    with pytest.raises(ConfigError, match="'UNSET_ALERT_VAR' is not set") as missing:
        Pipeline.from_config(config, name="etl")
    assert "pw-Config-77" not in str(missing.value)
    config["pipeline"]["alerts"] = "json://example.com/x"
    with pytest.raises(ConfigError, match="wrong type"):
        Pipeline.from_config(config, name="etl")
    config["pipeline"]["alerts"] = [webhook.url()]
    config["pipeline"]["alerts_on"] = ["failure", 3]
    with pytest.raises(ConfigError, match="list of strings"):
        Pipeline.from_config(config, name="etl")


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"alerts_on": ["failures"]}, "alerts_on"),
        ({"slow_factor": 1.0}, "slow_factor"),
        ({"slow_min_runs": 0}, "slow_min_runs"),
        ({"alert_window": -1}, "alert_window"),
    ],
)
def test_bad_alert_options_are_config_errors(
    tmp_path: Path, webhook: Webhook, options: dict[str, Any], key: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        _pipeline(tmp_path, alerts=[webhook.url()], **options)
    assert refused.value.key == key


def test_a_resume_hint_that_raises_falls_back_to_the_default(
    tmp_path: Path, webhook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(pipeline_id: str) -> str:
        raise RuntimeError("no hint")

    pipeline = _pipeline(tmp_path, alerts=[webhook.url("hint")], resume_hint=broken)
    with caplog.at_level(logging.WARNING, logger="checkpointing.pipeline"):
        _fail(pipeline)
    _settled()
    assert "resume=True) continues the latest unfinished one" in webhook.next()["json"]["message"]
    assert "resume_hint raised" in caplog.text
