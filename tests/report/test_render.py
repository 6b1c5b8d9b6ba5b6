"""The HTML report: its structure (not pixels), escaping, offline-ness and atomic writing."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from checkpointing import Attempt, RunInfo, StageExecution, get_run, render_report, write_report
from checkpointing.__main__ import main
from scripts.demo_runs import XSS_PROBE


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text, of a document."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def all(self, tag: str | None = None, **attrs: str) -> list[dict[str, str | None]]:
        return [
            a
            for t, a in self.tags
            if (tag is None or t == tag) and all(a.get(k) == v for k, v in attrs.items())
        ]


@pytest.fixture(scope="module")
def etl(demo) -> tuple[RunInfo, str]:
    checkpoint_dir, log_dir, ids = demo
    run = get_run(ids["etl"], checkpoint_dir=checkpoint_dir, log_dir=log_dir)
    from checkpointing import CheckpointManager

    checkpoints = CheckpointManager(checkpoint_dir).list_checkpoints(run.pipeline_id)
    return run, render_report(run, checkpoints=checkpoints)


def test_one_timeline_bar_and_one_table_row_per_execution(etl) -> None:
    run, html = etl
    doc = Elements(html)
    expected = [(e.stage, e.status) for a in run.attempts for e in a.executions]
    bars = [(a["data-stage"], a["data-status"]) for a in doc.all("g") if "data-status" in a]
    rows = [(a["data-stage"], a["data-status"]) for a in doc.all("tr") if "data-stage" in a]
    assert bars == expected
    assert rows == expected
    # The spans of extract, drawn under it: one row each, nested one deeper.
    spans = [(a["data-stage"], a["data-span"], a["data-depth"]) for a in doc.all("g")
             if "data-span" in a]  # fmt: skip
    assert spans == [("extract", "download", "1"), ("extract", "parse", "2")]
    assert len(doc.all("svg")) == len(run.attempts)  # one chart per attempt
    # Fan-out: the four fetch items are grouped under one "fetch (4)" header per attempt.
    assert html.count(">fetch (4)</text>") == 2


def test_sections_are_all_there(etl) -> None:
    _, html = etl
    doc = Elements(html)
    ids = {a["id"] for a in doc.all("section")}
    assert ids == {"timeline", "stages", "quality", "errors", "checkpoints", "config"}
    text = "".join(doc.text)
    assert "duplicate_days" in text  # data quality
    assert "Traceback (most recent call last)" in text  # errors with their tracebacks
    assert "KiB" in text  # checkpoint sizes
    assert "retention_days" in text  # the run's configuration


def test_everything_from_the_run_is_escaped(etl) -> None:
    _, html = etl
    doc = Elements(html)
    assert doc.all("img") == []
    assert doc.all("b") == []
    assert "<img src=x" not in html
    assert XSS_PROBE in "".join(doc.text)  # shown as text


def test_nothing_is_requested_from_anywhere(etl) -> None:
    _, html = etl
    doc = Elements(html)
    for attrs in (a for _, a in doc.tags):
        for name in ("src", "href"):
            value = attrs.get(name)
            assert value is None or value.startswith("#"), (name, value)
    assert doc.all("link") == [] and doc.all("iframe") == []
    (csp,) = doc.all("meta", **{"http-equiv": "Content-Security-Policy"})
    assert str(csp["content"]).startswith("default-src 'none';")
    scripts = doc.all("script")
    assert len(scripts) == 1 and "src" not in scripts[0]


def test_hostile_names_and_metadata_stay_text() -> None:
    probe = "</script><script>alert(1)</script>\"'&"
    execution = StageExecution(stage=probe, key=probe, occurrence=None, status="failed",
                               error={"type": probe, "message": probe, "traceback": probe},
                               quality=({probe: probe},))  # fmt: skip
    attempt = Attempt(number=1, status="failed", started_at=None, finished_at=None,
                      duration_seconds=None, reason=probe, config={probe: probe},
                      executions=(execution,))  # fmt: skip
    run = RunInfo(pipeline_id="p", name=probe, status="failed", started_at=None,
                  finished_at=None, duration_seconds=None, attempts=(attempt,),
                  stages_done=0, stages_total=1)  # fmt: skip
    html = render_report(run)
    doc = Elements(html)
    assert len(doc.all("script")) == 1
    assert [a["data-stage"] for a in doc.all("g") if "data-stage" in a] == [probe]


def test_a_running_execution_is_drawn_up_to_now() -> None:
    execution = StageExecution(stage="slow", status="running",
                               started_at="2025-01-01T00:00:00+00:00")  # fmt: skip
    attempt = Attempt(number=1, status="running", started_at=execution.started_at,
                      finished_at=None, duration_seconds=None, executions=(execution,))  # fmt: skip
    run = RunInfo(pipeline_id="p", name="p", status="running", started_at=None,
                  finished_at=None, duration_seconds=None, attempts=(attempt,),
                  stages_done=0, stages_total=1)  # fmt: skip
    doc = Elements(render_report(run))
    (bar,) = [a for a in doc.all("rect") if a.get("class") != "hit"]
    assert float(str(bar["width"])) > 100  # a year and more, to the end of the axis


def test_report_command_writes_the_file(demo, tmp_path: Path, capsys) -> None:
    checkpoint_dir, log_dir, ids = demo
    dirs = ["--dir", str(checkpoint_dir), "--log-dir", str(log_dir)]
    target = tmp_path / "out.html"
    assert main([*dirs, "report", ids["etl"][:-4], "-o", str(target)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {target}"
    assert ids["etl"] in target.read_text(encoding="utf-8")
    assert main([*dirs, "report", "--last", "--name", "nightly", "-o", str(target)]) == 0
    assert ids["nightly"] in target.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["out.html"]  # no temporary file left
    assert main([*dirs, "report", "nope", "-o", str(target)]) == 1
    assert "no run record" in capsys.readouterr().err


def test_write_report_of_a_run_without_checkpoints(demo, tmp_path: Path) -> None:
    _, log_dir, ids = demo
    path = write_report(ids["adhoc"], tmp_path / "r.html", checkpoint_dir=None, log_dir=log_dir)
    doc = Elements(path.read_text(encoding="utf-8"))
    assert [a["data-status"] for a in doc.all("g") if "data-stage" in a] == ["ran"]
