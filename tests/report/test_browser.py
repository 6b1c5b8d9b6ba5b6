"""The report and the dashboard in a real headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

from pathlib import Path

import pytest

from checkpointing import get_run, write_report
from scripts.browser import guarded_page, serve
from scripts.demo_runs import XSS_PROBE

pytestmark = pytest.mark.browser


def _expected(run) -> list[list[str]]:
    return [[e.stage, e.status] for a in run.attempts for e in a.executions]


def _drawn(page, scope: str) -> list[list[str]]:
    return page.eval_on_selector_all(
        f"{scope} [data-stage][data-status]",
        "els => els.map(e => [e.getAttribute('data-stage'), e.getAttribute('data-status')])",
    )


def _expected_spans(run) -> list[list[str]]:
    return [[e.stage, s["name"]] for a in run.attempts for e in a.executions for s in e.spans]


def _drawn_spans(page) -> list[list[str]]:
    """The span rows of the timeline, each under (after) its stage execution's row."""
    return page.eval_on_selector_all(
        "#timeline [data-span]",
        "els => els.map(e => [e.getAttribute('data-stage'), e.getAttribute('data-span')])",
    )


def _assert_spans_under_their_stage(page, run) -> None:
    expected = _expected_spans(run)
    assert expected == [["extract", "download"], ["extract", "parse"]]
    assert _drawn_spans(page) == expected
    # Each span row follows its execution's row (same data-exec), deeper spans indented more.
    order = page.eval_on_selector_all(
        "#timeline [data-exec]",
        "els => els.map(e => [e.getAttribute('data-exec'), e.getAttribute('data-span'),"
        " e.getAttribute('data-depth')])",
    )
    at = next(i for i, (_, span, _d) in enumerate(order) if span == "download")
    assert order[at - 1][1] is None and order[at - 1][0] == order[at][0]
    assert [order[at][2], order[at + 1][2]] == ["1", "2"]
    bars = page.locator("#timeline [data-span] rect")
    assert bars.count() == 2 and bars.first.is_visible()


def _assert_probe_inert(page) -> None:
    assert page.evaluate("document.title").find("pwned") < 0
    assert page.locator("img").count() == 0  # the probe's <img> is text, not an element
    assert page.locator("#errors b").count() == 0
    assert XSS_PROBE in page.locator("#errors").inner_text()


def test_report_opens_offline_from_file(browser, demo, tmp_path: Path) -> None:
    checkpoint_dir, log_dir, ids = demo
    path = write_report(ids["etl"], tmp_path / "report.html", checkpoint_dir=checkpoint_dir,
                        log_dir=log_dir)  # fmt: skip
    run = get_run(ids["etl"], checkpoint_dir=checkpoint_dir, log_dir=log_dir)
    with guarded_page(browser, path.as_uri()) as guarded:
        page = guarded.page
        page.goto(path.as_uri())
        assert _drawn(page, "#timeline") == _expected(run)  # one element per execution
        assert _drawn(page, "#stages") == _expected(run)
        _assert_spans_under_their_stage(page, run)
        _assert_probe_inert(page)
        # The conveniences work: hovering shows details, a header click sorts.
        page.hover("#timeline [data-stage='load'][data-status='failed']")
        assert "DemoFailure" in page.inner_text("#details")
        table = page.locator("#stages table").first
        table.locator("th", has_text="rows").click()
        rows = table.locator("tbody tr td:nth-child(6)").all_inner_texts()
        assert [int(r) for r in rows if r != "\N{EN DASH}"] == sorted(
            int(r) for r in rows if r != "\N{EN DASH}"
        )
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        assert guarded.errors == []
        assert guarded.outside == []
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_dashboard_from_runs_list_to_run_page(browser, demo, tmp_path: Path) -> None:
    checkpoint_dir, log_dir, ids = demo
    run = get_run(ids["etl"], checkpoint_dir=checkpoint_dir, log_dir=log_dir)
    with serve(checkpoint_dir, log_dir) as url, guarded_page(browser, url) as guarded:
        page = guarded.page
        page.goto(url + "/runs")
        assert page.locator("#runs tbody tr").count() == 3
        page.select_option("select[name=status]", "complete")
        page.fill("input[name=name]", "etl")
        page.click("button[type=submit]")
        assert page.locator("#runs tbody tr").count() == 1
        page.click(f"a[href='/runs/{ids['etl']}']")
        page.wait_for_url(f"{url}/runs/{ids['etl']}")
        assert _drawn(page, "#timeline") == _expected(run)
        _assert_spans_under_their_stage(page, run)
        _assert_probe_inert(page)
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        # Checkpoints: the diff of two, then one checkpoint's details.
        page.click("text=Diff checkpoints")
        page.click("button[type=submit]")
        assert "rows" in page.inner_text("#diff")
        page.locator("table a").first.click()
        assert page.locator("#manifest").inner_text().count("data_hash") == 1
        # Events, filtered.
        page.goto(f"{url}/runs/{ids['etl']}/events")
        page.select_option("select[name=type]", "stage_error")
        page.click("button[type=submit]")
        assert page.locator("#events tbody tr").all_inner_texts()[0].count("stage_error") == 1
        assert page.locator("#events tbody tr").count() == 1
        assert guarded.errors == []
        assert guarded.outside == []
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
