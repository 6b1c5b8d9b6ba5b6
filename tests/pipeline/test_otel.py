"""OpenTelemetry: runs, stages, spans and checkpoint operations as spans, checked with the SDK's
in-memory exporter; nothing imported or emitted when OpenTelemetry is not configured."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pandas as pd
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from checkpointing import Pipeline
from tests.pipeline._helpers import frame


@pytest.fixture
def dirs(tmp_path):
    return {"checkpoint_dir": tmp_path / "ckpt", "log_dir": tmp_path / "logs"}


@pytest.fixture
def exporter():
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter):
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


def _by_name(exporter):
    spans = exporter.get_finished_spans()
    return {span.name: span for span in spans}, spans


def test_run_stages_spans_and_saves_are_spans_with_parents(dirs, provider, exporter):
    with Pipeline("etl", tracer_provider=provider, **dirs) as p:
        with p.stage("extract") as s:
            with s.span("download"), s.span("parse"):
                pass
            s.checkpoint(frame(30))
        with p.stage("transform"):
            pass
    named, spans = _by_name(exporter)
    assert sorted(named) == sorted(
        ["run etl", "stage extract", "span download", "span parse", "checkpoint.save",
         "stage transform"]
    )  # fmt: skip
    assert len(spans) == 6
    run = named["run etl"]
    assert run.parent is None
    for name in ("stage extract", "stage transform"):
        assert named[name].parent.span_id == run.context.span_id
        assert named[name].context.trace_id == run.context.trace_id
    extract = named["stage extract"]
    assert named["span download"].parent.span_id == extract.context.span_id
    assert named["span parse"].parent.span_id == named["span download"].context.span_id
    assert named["checkpoint.save"].parent.span_id == extract.context.span_id

    assert run.attributes["stagepoint.pipeline_id"] == p.pipeline_id
    assert run.attributes["stagepoint.name"] == "etl"
    assert run.attributes["stagepoint.duration_seconds"] > 0
    attributes = extract.attributes
    assert attributes["stagepoint.stage"] == "extract"
    assert attributes["stagepoint.rows"] == 30
    for key in ("duration_seconds", "cpu_seconds", "process_cpu_seconds", "peak_rss_growth_bytes"):
        assert attributes[f"stagepoint.{key}"] >= 0
    assert "stagepoint.spans" not in attributes  # the spans are child spans of their own
    save = named["checkpoint.save"].attributes
    assert save["stagepoint.checkpoint_id"] == s.checkpoint_ids[0]
    assert save["stagepoint.timings_ms.encode"] >= 0 and save["stagepoint.timings_ms.fsync"] > 0
    assert named["span download"].attributes["stagepoint.span"] == "download"
    assert named["checkpoint.save"].start_time >= extract.start_time
    assert named["checkpoint.save"].end_time <= extract.end_time
    assert all(span.status.status_code is not StatusCode.ERROR for span in spans)


def test_a_restore_is_a_load_span(dirs, provider, exporter):
    with pytest.raises(RuntimeError), Pipeline("etl", **dirs) as p:
        with p.stage("extract") as s:
            s.checkpoint(frame(20))
        raise RuntimeError("stop")
    with (
        Pipeline("etl", resume=True, tracer_provider=provider, **dirs) as q,
        q.stage("extract") as s,
    ):
        assert s.restored
    named, _ = _by_name(exporter)
    load = named["checkpoint.load"]
    assert load.parent.span_id == named["stage extract"].context.span_id
    assert load.attributes["stagepoint.checkpoint_id"] == s.restored_from
    assert {k for k in load.attributes if k.startswith("stagepoint.timings_ms.")} == {
        "stagepoint.timings_ms.read", "stagepoint.timings_ms.verify", "stagepoint.timings_ms.decode"
    }  # fmt: skip
    assert named["stage extract"].attributes["stagepoint.restored"] is True


def test_a_failure_ends_its_spans_with_status_error(dirs, provider, exporter):
    p = Pipeline("etl", tracer_provider=provider, **dirs)
    with pytest.raises(ValueError), p, p.stage("load") as s, s.span("write"):
        raise ValueError("disk")
    named, _ = _by_name(exporter)
    for name in ("run etl", "stage load", "span write"):
        assert named[name].status.status_code is StatusCode.ERROR, name
    assert named["stage load"].attributes["stagepoint.error_type"] == "ValueError"
    (event,) = named["stage load"].events
    assert event.name == "exception"
    assert p.pipeline_id == named["run etl"].attributes["stagepoint.pipeline_id"]


def test_nested_stages_and_stages_without_a_run(dirs, provider, exporter):
    p = Pipeline("etl", tracer_provider=provider, **dirs)
    with p.stage("outer"), p.stage("inner"):
        pass
    p.close()
    named, spans = _by_name(exporter)
    assert len(spans) == 2
    assert named["stage outer"].parent is None
    assert named["stage inner"].parent.span_id == named["stage outer"].context.span_id


def _run(script: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_importing_and_running_without_opentelemetry_imports_none_of_it(tmp_path):
    got = _run(
        f"""
        import sys
        import checkpointing
        from checkpointing import Pipeline
        with Pipeline("etl", checkpoint_dir={str(tmp_path / "c")!r},
                      log_dir={str(tmp_path / "l")!r}) as p, p.stage("a") as s, s.span("b"):
            pass
        print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
        """
    )
    assert got == "[]"


def test_the_global_tracer_provider_is_used_once_set(tmp_path):
    got = _run(
        f"""
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from checkpointing import Pipeline
        dirs = dict(checkpoint_dir={str(tmp_path / "c")!r}, log_dir={str(tmp_path / "l")!r})
        exporter = InMemorySpanExporter()
        with Pipeline("before", **dirs) as p, p.stage("a"):
            pass  # no provider set yet: nothing emitted
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        with Pipeline("after", **dirs) as p, p.stage("a"):
            pass
        print(sorted(span.name for span in exporter.get_finished_spans()))
        """
    )
    assert got == "['run after', 'stage a']"


def test_a_tracer_provider_without_opentelemetry_names_the_extra(tmp_path):
    got = _run(
        f"""
        import sys
        sys.modules["opentelemetry"] = None  # as if opentelemetry-api were not installed
        from checkpointing import Pipeline
        try:
            Pipeline("etl", checkpoint_dir={str(tmp_path / "c")!r},
                     log_dir={str(tmp_path / "l")!r}, tracer_provider=object())
        except ImportError as error:
            print(error)
        """
    )
    assert "stagepoint[otel]" in got


def test_a_failed_save_is_a_span_with_status_error(dirs, provider, exporter):
    p = Pipeline("etl", tracer_provider=provider, **dirs)
    with pytest.raises(TypeError), p, p.stage("extract") as s:
        s.checkpoint(pd.DataFrame({1: [1.0]}))  # a column label Parquet cannot store
    named, _ = _by_name(exporter)
    save = named["checkpoint.save"]
    assert save.status.status_code is StatusCode.ERROR
    assert save.attributes["stagepoint.error_type"] == "TypeError"
    assert save.parent.span_id == named["stage extract"].context.span_id
