"""AlertHandler: records become notifications, off the caller's thread, never blocking or raising.

Every alert goes to a real server bound to 127.0.0.1 and started by the test: an HTTP server
receiving Apprise's JSON webhook, or an SMTP server (aiosmtpd) receiving the e-mail.
"""

from __future__ import annotations

import logging
import logging.config
import multiprocessing
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from logging_ext import AlertHandler, InvalidHandlerArgumentError, PipelineLogger, log_context
from tests._servers import Mailbox, Webhook, free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    server = Webhook()
    yield server
    server.close()


def _handler(urls: str | list[str], **options: object) -> AlertHandler:
    options.setdefault("retry_delay", 0.05)
    return AlertHandler(urls, **options)  # type: ignore[arg-type]


def _logger(name: str, handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger


def test_dictconfig_builds_the_handler_and_records_at_its_level_reach_the_webhook(
    webhook: Webhook,
) -> None:
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {
                "alerts": {
                    "class": "logging_ext.AlertHandler",
                    "level": "ERROR",
                    "urls": [webhook.url("dictconfig")],
                    "timeout": 5,
                    "retries": 1,
                    "window": 60,
                }
            },
            "loggers": {"app.dictconfig": {"handlers": ["alerts"], "level": "DEBUG"}},
        }
    )
    handler = logging.getLogger("app.dictconfig").handlers[0]
    assert isinstance(handler, AlertHandler)
    assert handler.level == logging.ERROR
    logger = logging.getLogger("app.dictconfig")
    logger.warning("below the level: not sent")
    try:
        raise KeyError("ticker AAPL")
    except KeyError:
        logger.exception("download failed")
    assert handler.wait(60)
    received = webhook.all()
    assert len(received) == 1
    sent = received[0]["json"]
    assert sent["type"] == "failure"
    assert sent["title"] == "ERROR: download failed: KeyError: 'ticker AAPL'"
    assert "logger: app.dictconfig" in sent["message"]
    assert "Traceback (most recent call last)" in sent["message"]
    assert received[0]["path"] == "/dictconfig"


def test_an_email_goes_through_plain_smtp_with_a_login(caplog: pytest.LogCaptureFixture) -> None:
    mailbox = Mailbox(user="alerts", password="pw-Mail-7731")
    try:
        handler = _handler(mailbox.url(user="alerts", password="pw-Mail-7731"))
        logger = _logger("app.mail", handler)
        with caplog.at_level(logging.DEBUG):
            logger.error("disk full on %s", "/data")
            message = mailbox.next()
            assert handler.wait(60)
        assert message["Subject"] == "ERROR: disk full on /data"
        assert message["To"] == "ops@example.com"
        assert mailbox.logins == ["alerts"]
        assert "pw-Mail-7731" not in caplog.text
        assert "pw-Mail-7731" not in repr(handler)
    finally:
        mailbox.close()


def test_a_slow_endpoint_never_blocks_the_logging_call() -> None:
    gate, order = threading.Event(), list[str]()
    slow = Webhook(gate=gate, hold=5.0, order=order)
    try:
        handler = _handler(slow.url("slow"), timeout=30)
        logger = _logger("app.slow", handler)
        logger.error("first")
        assert slow.holding.wait(60)  # the server holds the request ...
        logger.error("second")  # ... and logging goes on
        order.append("logging returned")
        gate.set()
        assert handler.wait(60)
        assert order[0] == "logging returned"
        assert [r["json"]["title"] for r in slow.all()] == ["ERROR: first", "ERROR: second"]
    finally:
        gate.set()
        slow.close()


def test_a_failing_endpoint_is_reported_once_until_it_delivers_again(
    webhook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    webhook.status = 500
    handler = _handler(webhook.url("flaky"), retries=1)
    logger = _logger("app.flaky", handler)
    with caplog.at_level(logging.WARNING, logger="logging_ext.alerts"):
        logger.error("one")
        logger.error("two")
        assert handler.wait(60)
        reports = [r for r in caplog.records if r.name == "logging_ext.alerts"]
        assert len(reports) == 1
        assert reports[0].levelno == logging.WARNING
        assert "failed after 2 attempts" in reports[0].getMessage()
        assert webhook.url("flaky") in reports[0].getMessage()
        assert len(webhook.all()) == 4  # two records, two attempts each

        webhook.status = 200
        logger.error("three")
        assert handler.wait(60)
        webhook.status = 500
        logger.error("four")
        assert handler.wait(60)
        reports = [r for r in caplog.records if r.name == "logging_ext.alerts"]
        assert len(reports) == 2


def test_a_closed_port_is_reported_and_the_other_endpoints_still_get_the_alert(
    webhook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    dead = f"json://127.0.0.1:{free_port()}/dead"
    handler = _handler([dead, webhook.url("alive")], retries=2, level=logging.WARNING)
    logging.getLogger().addHandler(handler)  # on the root: its own report must not loop
    logger = logging.getLogger("app.closed")
    with caplog.at_level(logging.WARNING):
        logger.error("payment service down")
        assert handler.wait(60)
    assert [r["json"]["title"] for r in webhook.all()] == ["ERROR: payment service down"]
    reports = [r for r in caplog.records if r.name == "logging_ext.alerts"]
    assert len(reports) == 1
    assert "failed after 3 attempts" in reports[0].getMessage()
    assert not [r for r in caplog.records if r.name.startswith("apprise")]  # reported once, by us


def test_the_same_error_is_sent_once_per_window_and_the_repeats_are_counted(
    webhook: Webhook,
) -> None:
    handler = _handler(webhook.url("window"), window=3600)
    logger = _logger("app.window", handler)
    for _ in range(3):
        logger.error("quote feed stalled")
    logger.error("another error")
    assert handler.wait(60)
    titles = [r["json"]["title"] for r in webhook.all()]
    assert titles == ["ERROR: quote feed stalled", "ERROR: another error"]


def test_the_next_alert_after_the_window_says_how_many_were_suppressed(webhook: Webhook) -> None:
    handler = _handler(webhook.url("count"), window=0.5)
    logger = _logger("app.count", handler)
    first = logging.LogRecord("app.count", logging.ERROR, __file__, 1, "stalled", None, None)
    repeats = [
        logging.makeLogRecord(vars(first) | {"created": first.created + s}) for s in (0.1, 0.2)
    ]
    later = logging.makeLogRecord(vars(first) | {"created": first.created + 0.6})
    for record in [first, *repeats, later]:
        logger.handle(record)
    assert handler.wait(60)
    messages = [r["json"]["message"] for r in webhook.all()]
    assert len(messages) == 2
    assert "suppressed" not in messages[0]
    assert "The same alert was suppressed 2 more times since" in messages[1]


def test_handlers_sharing_a_state_file_share_the_window(webhook: Webhook, tmp_path: Path) -> None:
    state = tmp_path / "alerts" / "state.json"
    first = _handler(webhook.url("shared-1"), state_file=state)
    second = _handler(webhook.url("shared-2"), state_file=state)
    _logger("app.shared", first).error("nightly load failed")
    assert first.wait(60)
    _logger("app.shared", second).error("nightly load failed")
    assert second.wait(60)
    assert [r["path"] for r in webhook.all()] == ["/shared-1"]
    assert "nightly load failed" not in state.read_text()  # digests only


def test_pipeline_events_are_described_and_keyed_by_pipeline_name(
    webhook: Webhook, tmp_path: Path
) -> None:
    handler = _handler(webhook.url("events"))
    logging.getLogger().addHandler(handler)
    logger = PipelineLogger(tmp_path / "logs")
    try:
        for run in (
            "etl_20250101_000000_000000aaaaaaaaaaaa",
            "etl_20250102_000000_000000bbbbbbbbbbbb",
        ):
            with log_context(pipeline_id=run, stage="extract"):
                logger.log_stage_error(run, "extract", ValueError("no rows"))
        assert handler.wait(60)
    finally:
        logger.close()
    received = webhook.all()
    assert len(received) == 1  # the second run's same failure is a repeat
    sent = received[0]["json"]
    assert sent["title"] == (
        "ERROR: stage_error: ValueError: no rows (etl_20250101_000000_000000aaaaaaaaaaaa / extract)"
    )
    assert '"error_type": "ValueError"' in sent["message"]


def test_secrets_of_the_urls_appear_in_no_log_record_error_or_repr(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secrets = ("pw-Hook-4411", "tok9Secret7Path", "keyQ7Z")
    dead = f"json://svc:{secrets[0]}@127.0.0.1:{free_port()}/hooks/{secrets[1]}?token={secrets[2]}"
    with caplog.at_level(logging.DEBUG):
        handler = _handler(dead, retries=1)
        _logger("app.secret", handler).error("failed")
        assert handler.wait(60)
        with pytest.raises(InvalidHandlerArgumentError) as refused:
            AlertHandler(f"nosuchservice://svc:{secrets[0]}@example.com/{secrets[1]}")
        # Apprise logging about the URL from elsewhere (its own threads): scrubbed
        logging.getLogger("apprise").warning("could not reach %s", dead)
    shown = [caplog.text, str(refused.value), repr(refused.value.value), repr(handler)]
    shown += [str(handler.urls)]
    for text in shown:
        for secret in secrets:
            assert secret not in text
    assert "json://****:****@127.0.0.1" in caplog.text
    assert "could not reach ****" in caplog.text


@pytest.mark.parametrize(
    ("options", "argument"),
    [
        ({"urls": []}, "urls"),
        ({"urls": "json://127.0.0.1:1/x", "timeout": 0}, "timeout"),
        ({"urls": "json://127.0.0.1:1/x", "retries": -1}, "retries"),
        ({"urls": "json://127.0.0.1:1/x", "window": -5}, "window"),
        ({"urls": "json://127.0.0.1:1/x", "queue_size": 0}, "queue_size"),
        ({"urls": "unknown-scheme://host/x"}, "urls"),
    ],
)
def test_bad_arguments_are_refused_with_the_argument_named(
    options: dict[str, object], argument: str
) -> None:
    with pytest.raises(InvalidHandlerArgumentError) as refused:
        AlertHandler(**options)  # type: ignore[arg-type]
    assert refused.value.argument == argument


def test_after_close_alerts_are_refused(webhook: Webhook) -> None:
    handler = _handler(webhook.url("closed"))
    assert handler.send_alert("before", "body", kind="info")
    handler.close()
    assert not handler.send_alert("after", "body")
    assert [r["json"]["title"] for r in webhook.all()] == ["before"]


def _log_in_forked_child(name: str) -> None:
    logger = logging.getLogger(name)
    logger.error("in a forked child")
    handler = logger.handlers[0]
    assert isinstance(handler, AlertHandler)
    # multiprocessing ends a forked child with os._exit: no atexit, so wait here
    assert handler.wait(60)


def test_a_forked_child_sends_its_alerts_on_threads_of_its_own(webhook: Webhook) -> None:
    handler = _handler(webhook.url("fork"))
    logger = _logger("app.fork", handler)
    logger.error("in the parent")  # the parent's threads are running from now on
    assert handler.wait(60)
    child = multiprocessing.get_context("fork").Process(
        target=_log_in_forked_child, args=("app.fork",)
    )
    child.start()
    child.join(120)
    assert child.exitcode == 0
    titles = [r["json"]["title"] for r in webhook.all()]
    assert titles == ["ERROR: in the parent", "ERROR: in a forked child"]


def _python(code: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        **kwargs,  # type: ignore[call-overload]
    )


def test_importing_the_packages_does_not_import_apprise() -> None:
    result = _python(
        """
        import sys
        import checkpointing, logging_ext
        from checkpointing import Pipeline
        assert "apprise" not in sys.modules, "apprise imported"
        """
    )
    assert result.returncode == 0, result.stderr


def test_without_apprise_creating_alerts_names_the_extra_to_install(tmp_path: Path) -> None:
    result = _python(
        f"""
        import sys
        sys.modules["apprise"] = None  # what an environment without the extra looks like
        from checkpointing import Pipeline
        from logging_ext import AlertHandler
        for make in (lambda: AlertHandler("json://127.0.0.1:1/x"),
                     lambda: Pipeline("etl", checkpoint_dir={str(tmp_path)!r},
                                      logging=False, alerts=["json://127.0.0.1:1/x"])):
            try:
                make()
            except ImportError as error:
                assert "pip install 'stagepoint[alerts]'" in str(error), error
            else:
                raise AssertionError("no ImportError")
        Pipeline("etl", checkpoint_dir={str(tmp_path)!r}, logging=False)  # no alerts: fine
        """
    )
    assert result.returncode == 0, result.stderr


def test_queued_alerts_are_delivered_when_the_interpreter_exits(webhook: Webhook) -> None:
    result = _python(
        f"""
        import logging
        from logging_ext import AlertHandler
        logging.getLogger().addHandler(AlertHandler({webhook.url("exit")!r}))
        logging.getLogger("job").critical("job crashed")
        """
    )  # exits right after queueing: atexit gives the alert its grace period
    assert result.returncode == 0, result.stderr
    assert webhook.next()["json"]["title"] == "CRITICAL: job crashed"


def test_a_hung_endpoint_delays_interpreter_exit_by_the_grace_period_only() -> None:
    gate, order = threading.Event(), list[str]()
    hung = Webhook(gate=gate, hold=600.0, order=order)
    try:
        result = _python(
            f"""
            import logging
            from logging_ext import AlertHandler
            handler = AlertHandler({hung.url("hung")!r}, timeout=600, exit_grace=0.5)
            logging.getLogger().addHandler(handler)
            logging.getLogger("job").error("job failed")
            """
        )
        order.append("process exited")
        assert result.returncode == 0, result.stderr
        assert order == ["process exited"]  # the server still holds its answer
    finally:
        gate.set()
        hung.close()
