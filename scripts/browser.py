"""Headless Chromium and a served dashboard, for the browser tests and the docs' screenshots.

Chromium is Debian's ``chromium`` package (``apt-get install chromium``), driven by Playwright's
Python package through ``executable_path``: no browser is downloaded. Every page opened here
goes through a route that lets only the page's own origin (``file://`` or the local server)
through and records anything else, which it also blocks.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["CHROMIUM", "CHROMIUM_FLAGS", "GuardedPage", "chromium", "guarded_page", "serve"]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
_ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (Playwright ``Browser``) for the duration of the block.

    Raises:
        FileNotFoundError: ``/usr/bin/chromium`` is missing (``apt-get install chromium``).
    """
    if not CHROMIUM.exists():
        msg = f"{CHROMIUM} is missing: install Debian's package with apt-get install chromium"
        raise FileNotFoundError(msg)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=list(CHROMIUM_FLAGS)
        )
        try:
            yield browser
        finally:
            browser.close()


class GuardedPage:
    """A page that may only talk to ``origin``; what else it tried and every error, recorded.

    Attributes:
        page: The Playwright ``Page``.
        outside: URLs of requests to anywhere but ``origin`` (all were blocked).
        errors: Uncaught page errors and console errors.
    """

    def __init__(self, page: Any, origin: str) -> None:
        self.page = page
        self.origin = origin
        self.outside: list[str] = []
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on(
            "console",
            lambda message: self.errors.append(message.text) if message.type == "error" else None,
        )
        page.route("**/*", self._route)

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(self.origin):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()


@contextlib.contextmanager
def guarded_page(browser: Any, origin: str, *, width: int = 1280) -> Iterator[GuardedPage]:
    """A new page of ``browser`` (in its own context) that may only reach ``origin``."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    try:
        yield GuardedPage(context.new_page(), origin)
    finally:
        context.close()


@contextlib.contextmanager
def serve(checkpoint_dir: Path, log_dir: Path, *, timeout: float = 30.0) -> Iterator[str]:
    """Run ``python -m checkpointing ... serve --port 0`` and yield its base URL.

    The server is a real process, stopped (SIGTERM, then SIGKILL) when the block ends.
    """
    command = [
        sys.executable, "-m", "checkpointing", "--dir", str(checkpoint_dir),
        "--log-dir", str(log_dir), "serve", "--port", "0",
    ]  # fmt: skip
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with subprocess.Popen(
        command, cwd=_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as process:
        try:
            assert process.stdout is not None
            deadline = time.monotonic() + timeout
            line = ""
            while time.monotonic() < deadline and process.poll() is None:
                line = process.stdout.readline()
                if line.startswith("serving "):
                    break
            found = re.search(r"http://127\.0\.0\.1:\d+", line)
            if found is None:
                process.kill()
                _, err = process.communicate()
                msg = f"the dashboard did not start: {line!r} {err.strip()!r}"
                raise RuntimeError(msg)
            yield found.group(0)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
