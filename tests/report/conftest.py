"""Fixtures of the report and dashboard tests: the demo runs, and Chromium."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.browser import CHROMIUM, chromium
from scripts.demo_runs import make_demo_runs


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """``(checkpoint_dir, log_dir, {name: pipeline_id})`` of the demo runs."""
    base = tmp_path_factory.mktemp("report-demo")
    ids = make_demo_runs(base / "ck", base / "logs")
    return base / "ck", base / "logs", ids


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """A headless Chromium. Missing Chromium fails the test, in CI and elsewhere alike:
    install it (apt-get install chromium) or deselect these tests with -m "not browser".

    Closed once this package's tests are done: Playwright's synchronous API keeps an event
    loop running in the main thread while it is open, where ``asyncio.run`` then refuses to
    start another, so no other test may run under it."""
    if not CHROMIUM.exists():
        where = "CI must install it (.ci/run does)" if os.environ.get("CI") == "true" else (
            "install it with apt-get install chromium, or deselect with -m 'not browser'"
        )  # fmt: skip
        pytest.fail(f"{CHROMIUM} is missing: {where}")
    with chromium() as launched:
        yield launched
