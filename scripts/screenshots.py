"""Take the screenshots of docs/report.md: the report and the dashboard, in headless Chromium.

    python scripts/screenshots.py            # writes docs/report-*.png and docs/dashboard-*.png

Makes the demo runs (scripts/demo_runs.py) in a temporary directory, writes the etl run's
report and opens it from disk, then serves the dashboard and opens its pages, as the browser
tests do (tests/report/test_browser.py): with Debian's Chromium, and no request leaving the
file or the local server.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:  # run as a file: make the packages importable
    sys.path.insert(0, str(_ROOT))

from checkpointing import write_report  # noqa: E402
from scripts.browser import chromium, guarded_page, serve  # noqa: E402
from scripts.demo_runs import make_demo_runs  # noqa: E402

__all__ = ["main"]

DOCS = _ROOT / "docs"


def main() -> int:
    """Write the PNGs into docs/; print their paths."""
    with tempfile.TemporaryDirectory() as tmp, chromium() as browser:
        base = Path(tmp)
        ids = make_demo_runs(base / "ck", base / "logs")
        report = write_report(ids["etl"], base / "report.html", checkpoint_dir=base / "ck",
                              log_dir=base / "logs")  # fmt: skip
        shots = []
        with guarded_page(browser, report.as_uri(), width=1100) as guarded:
            guarded.page.goto(report.as_uri())
            shots.append(DOCS / "report-timeline.png")
            guarded.page.screenshot(path=str(shots[-1]), clip=_clip(guarded.page, "#stages"))
            assert not guarded.outside and not guarded.errors, (guarded.outside, guarded.errors)
        with serve(base / "ck", base / "logs") as url, guarded_page(browser, url) as guarded:
            guarded.page.goto(url + "/runs")
            shots.append(DOCS / "dashboard-runs.png")
            guarded.page.screenshot(path=str(shots[-1]))
            guarded.page.goto(f"{url}/runs/{ids['etl']}/checkpoints")
            guarded.page.click("button[type=submit]")
            shots.append(DOCS / "dashboard-diff.png")
            guarded.page.screenshot(path=str(shots[-1]), full_page=True)
            assert not guarded.outside and not guarded.errors, (guarded.outside, guarded.errors)
    for shot in shots:
        print(shot.relative_to(_ROOT))
    return 0


def _clip(page: object, until: str) -> dict[str, float]:
    """The top of the page down to the element ``until``."""
    box = page.locator(until).bounding_box()  # type: ignore[attr-defined]
    return {"x": 0, "y": 0, "width": 1100, "height": box["y"]}


if __name__ == "__main__":
    raise SystemExit(main())
