"""The example job alerts a failed run with its exact resume command (real processes)."""

from __future__ import annotations

from pathlib import Path

from tests._servers import Webhook
from tests.scripts.test_run_etl_pipeline import DATA_ARGS, _run


def test_a_failed_run_alerts_with_the_exact_resume_command(tmp_path: Path) -> None:
    webhook = Webhook()
    try:
        alert = webhook.url("etl", auth="ops:pw-Etl-3391")
        failed = _run(tmp_path, *DATA_ARGS, "--fail-at", "data_preprocessing", "--alert", alert)
        assert failed.returncode == 1, failed.stderr
        resume = next(
            line.removeprefix("resume with").strip()
            for line in failed.stderr.splitlines()
            if line.startswith("resume with")
        )
        assert "pw-Etl-3391" not in failed.stderr + failed.stdout
        sent = webhook.next()["json"]
        assert sent["title"].startswith(
            "etl: run failed in stage data_preprocessing: InjectedFailure: injected failure"
        )
        assert f"Resume: {resume}" in sent["message"].splitlines()

        done = _run(tmp_path, *DATA_ARGS, "--resume", "--alert", alert)
        assert done.returncode == 0, done.stderr
        assert webhook.all() == []  # a run that completes sends nothing
    finally:
        webhook.close()


def test_an_alert_url_apprise_does_not_know_is_a_usage_error_without_its_secret(
    tmp_path: Path,
) -> None:
    bad = _run(tmp_path, *DATA_ARGS, "--alert", "nosuch://user:pw-Bad-8812@example.com/x")
    assert bad.returncode == 2
    assert "invalid urls=" in bad.stderr
    assert "pw-Bad-8812" not in bad.stderr
