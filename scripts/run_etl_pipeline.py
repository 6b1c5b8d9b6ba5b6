"""Run the example ETL job on market data: extract, validate, preprocess, store.

Every stage is a ``with pipeline.stage(...)`` block with a verified checkpoint, so a failed run
can be resumed where it stopped, and a fingerprint of its code and inputs, so a run with the same
arguments restores each unchanged stage from an earlier run's result (docs/caching.md). Inside
extraction and preprocessing, each ticker is its own item of ``pipeline.map`` with its own
checkpoint (scripts/etl_fanout.py), in this process or, with ``--workers N``, on a local Dask
cluster::

    python scripts/run_etl_pipeline.py --tickers AAPL,MSFT --start 2023-01-01 --end 2023-12-31
    python scripts/run_etl_pipeline.py --tickers AAPL,MSFT --start 2023-01-01 --end 2023-12-31
                                               # again: every stage comes from the cache
    python scripts/run_etl_pipeline.py --tickers AAPL,MSFT --start 2023-01-01 --end 2023-12-31 \\
        --rerun-from data_preprocessing        # runs preprocessing and storage again
    python scripts/run_etl_pipeline.py --tickers AAPL,MSFT --start 2023-01-01 --end 2023-12-31 \\
        --fail-at data_preprocessing --no-cache  # exits 1, prints the command that resumes
    python scripts/run_etl_pipeline.py --tickers AAPL,MSFT --start 2023-01-01 --end 2023-12-31 \\
        --resume                               # restores the two finished stages, runs the rest
    python scripts/run_etl_pipeline.py --tickers AAPL,MSFT --start 2023-01-01 --end 2023-12-31 \\
        --workers 2                            # each ticker on a local Dask cluster, same output

Exit status: 0 on success, 1 when a stage fails, 2 for bad arguments, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shlex
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:  # run as a file: make the sibling modules importable
    sys.path.insert(0, str(_ROOT))

from scripts.etl_fanout import ITEM_STAGES, PerTicker, local_cluster  # noqa: E402
from scripts.etl_stages import (  # noqa: E402
    STAGES,
    extract,
    file_sha256,
    output_filename,
    output_intact,
    preprocess,
    store,
    validate,
)
from scripts.market_data import MarketDataError, parse_tickers, read_ohlcv_header  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from checkpointing import Pipeline, Stage

__all__ = ["InjectedFailure", "main"]

PIPELINE_NAME = "etl"
EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


class InjectedFailure(RuntimeError):
    """The failure ``--fail-at STAGE`` raises inside that stage."""


class _UsageError(Exception):
    """The arguments cannot be honoured (exit status 2)."""


# -- arguments -------------------------------------------------------------------------------


def _ticker_list(text: str) -> list[str]:
    try:
        return parse_tickers(text)
    except MarketDataError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _day(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def _source(text: str) -> str:
    if text == "synthetic" or (text.startswith("csv:") and len(text) > 4):
        return text
    raise argparse.ArgumentTypeError(f"expected 'synthetic' or 'csv:PATH', got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="run_etl_pipeline.py",
        description="Extract, validate, preprocess and store daily OHLCV market data, with a "
        "verified checkpoint after every stage and resume after a failure.",
        epilog="exit status: 0 success, 1 a stage failed (resume with --resume), 2 bad arguments",
    )
    parser.add_argument(
        "--tickers",
        type=_ticker_list,
        help="comma-separated symbols, e.g. AAPL,MSFT (required with the synthetic source; "
        "with a CSV source, keeps only these)",
    )
    parser.add_argument("--start", type=_day, help="first day, YYYY-MM-DD")
    parser.add_argument("--end", type=_day, help="last day, YYYY-MM-DD")
    parser.add_argument(
        "--source",
        type=_source,
        default="synthetic",
        help="'synthetic' (built-in deterministic data, the default) or 'csv:PATH' (columns "
        "date,ticker,open,high,low,close,volume)",
    )
    parser.add_argument("--checkpoint-dir", default="data/checkpoints", help="%(default)s")
    parser.add_argument("--log-dir", default="logs", help="%(default)s")
    parser.add_argument("--output-dir", default="data/processed", help="%(default)s")
    parser.add_argument(
        "--fail-at",
        choices=STAGES,
        metavar="STAGE",
        help="inject a failure in STAGE: " + ", ".join(STAGES),
    )
    parser.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="PIPELINE_ID",
        help="continue the most recent unfinished run (or the run PIPELINE_ID)",
    )
    parser.add_argument(
        "--rerun-from",
        choices=STAGES,
        metavar="STAGE",
        help="run STAGE and every later stage even if an earlier result could be restored",
    )
    parser.add_argument(
        "--rerun",
        choices=STAGES,
        metavar="STAGE",
        action="append",
        default=[],
        help="run STAGE even if an earlier result could be restored (repeatable)",
    )
    parser.add_argument(
        "--no-cache",
        dest="cache",
        action="store_false",
        help="do not restore stages from earlier runs with the same code and inputs",
    )
    parser.add_argument(
        "--workers",
        type=_positive,
        metavar="N",
        help="fetch and preprocess each ticker (its pipeline.map item) on a local Dask cluster "
        "of N worker processes (needs stagepoint[dask]; default: in this process)",
    )
    parser.add_argument(
        "--alert",
        action="append",
        metavar="URL",
        help="notify this Apprise URL when the run fails, with the command that resumes it "
        "(repeatable; needs stagepoint[alerts]; e.g. slack://..., mailto://..., json://host/path)",
    )
    parser.add_argument(
        "--verbose", "-v", action="store_true", help="show log records and tracebacks"
    )
    return parser


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a number of workers >= 1, got {text!r}")
    return int(text)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and cross-check the arguments; exits with status 2 and a message when invalid."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.source == "synthetic":
        missing = [f"--{n}" for n in ("tickers", "start", "end") if getattr(args, n) is None]
        if missing:
            parser.error(f"the synthetic source needs {', '.join(missing)}")
    else:
        try:
            read_ohlcv_header(args.source[4:])
        except MarketDataError as exc:
            parser.error(str(exc))
    if args.start is not None and args.end is not None and args.start > args.end:
        parser.error(f"--start {args.start} is after --end {args.end}")
    if args.workers is not None and importlib.util.find_spec("distributed") is None:
        parser.error("--workers needs Dask: pip install 'stagepoint[dask]'")
    return args


def resume_command(args: argparse.Namespace, pipeline_id: str) -> str:
    """The shell command that continues run ``pipeline_id`` with the same arguments.

    ``--alert`` URLs are left out: they may hold credentials, and this command is printed.
    """
    python = Path(sys.executable)
    try:
        python = python.relative_to(Path.cwd())
    except ValueError:
        python = Path(python.name)
    argv = [str(python), sys.argv[0] or "scripts/run_etl_pipeline.py"]
    if args.tickers is not None:
        argv += ["--tickers", ",".join(args.tickers)]
    for flag in ("start", "end"):
        if getattr(args, flag) is not None:
            argv += [f"--{flag}", getattr(args, flag)]
    defaults = build_parser().parse_args([])
    for option in ("source", "checkpoint_dir", "log_dir", "output_dir"):
        if getattr(args, option) != getattr(defaults, option):
            argv += ["--" + option.replace("_", "-"), getattr(args, option)]
    if args.workers is not None:
        argv += ["--workers", str(args.workers)]
    if not args.cache:
        argv.append("--no-cache")
    if args.verbose:
        argv.append("--verbose")
    return shlex.join([*argv, "--resume", pipeline_id])


# -- progress on stderr ----------------------------------------------------------------------


class Progress:
    """Stage lines on stderr; on a terminal, a live line that moves (at most 10 redraws/s)."""

    def __init__(self, stream: TextIO, *, live: bool) -> None:
        self.stream = stream
        self.live = live
        self._prefix = ""
        self._t0 = 0.0
        self._last = 0.0

    def start(self, index: int, name: str) -> None:
        self._prefix = f"[{index}/{len(STAGES)}] {name:<19}"
        self._t0 = self._last = time.perf_counter()
        if self.live:
            self._draw(f"{self._prefix} ...")

    def update(self, done: int, total: int, unit: str) -> None:
        now = time.perf_counter()
        if not self.live or (now - self._last < 0.1 and done < total):
            return
        self._last = now
        self._draw(
            f"{self._prefix} {done:>{len(str(total))}}/{total} {unit}  {now - self._t0:.1f}s"
        )

    def callback(self, unit: str) -> Callable[[int, int], None]:
        """A ``progress(done, total)`` callback for the stage functions."""
        return lambda done, total: self.update(done, total, unit)

    def finish(self, status: str, detail: str) -> None:
        elapsed = time.perf_counter() - self._t0
        self._draw(f"{self._prefix} {status:<8} {elapsed:6.2f}s  {detail}".rstrip(), final=True)

    def _draw(self, text: str, *, final: bool = False) -> None:
        if self.live:
            self.stream.write(f"\r\x1b[2K{text}")
            if final:
                self.stream.write("\n")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


# -- the run ---------------------------------------------------------------------------------


@dataclass
class StageResult:
    """What the summary table shows for one stage."""

    name: str
    status: str = "not run"
    duration: float | None = None
    rows: int | None = None
    checkpoint_id: str | None = None
    why: str | None = None


def _record(result: StageResult, s: Stage) -> None:
    cached = s.reason.startswith("cache hit")
    result.status = ("cached" if cached else "restored") if s.restored else "ran"
    result.duration = s.duration_seconds
    result.rows = s.rows
    result.checkpoint_id = s.restored_from if s.restored else (s.checkpoint_ids or [None])[-1]
    if not s.restored and s.reason not in ("new run", "cache miss: no earlier result"):
        result.why = s.reason  # why an earlier result could not be used


def _extract_inputs(args: argparse.Namespace) -> dict[str, Any]:
    """What the extraction computes from: its code, the arguments and, for a CSV source, the
    file's content (read by the stage itself, so it must be passed in to be fingerprinted)."""
    inputs: dict[str, Any] = {
        "code": extract,
        "source": args.source,
        "tickers": args.tickers,
        "start": args.start,
        "end": args.end,
    }
    if args.source.startswith("csv:"):
        inputs["csv_sha256"] = file_sha256(args.source[4:])
    return inputs


def _rerun(args: argparse.Namespace) -> set[str]:
    """The stages to run even if they could be restored: ``--rerun`` with the tickers of each.

    Without the cache, no ticker is restored either: ``pipeline.map`` knows a resumed run's
    tickers by key alone unless it fingerprints them (its cache), so after a resume with other
    data arguments it would restore tickers fetched for the old ones.
    """
    if not args.cache:
        return {*args.rerun, *ITEM_STAGES.values()}
    return {*args.rerun, *(ITEM_STAGES[s] for s in args.rerun if s in ITEM_STAGES)}


def run(
    args: argparse.Namespace,
    results: list[StageResult],
    progress: Progress,
    facts: dict[str, Any],
) -> None:
    """Run the four stages; fills ``results`` and ``facts`` (pipeline id, current stage, ...).

    A resumed run started with other data arguments reruns what they change: every stage's
    fingerprint covers its inputs, so a checkpoint computed from other data is never restored.

    Raises:
        _UsageError: ``--resume`` names no run.
        Exception: whatever a stage raised (``InjectedFailure`` for ``--fail-at``).
    """
    from checkpointing import CheckpointError, Pipeline

    try:
        pipeline = Pipeline(
            PIPELINE_NAME,
            checkpoint_dir=args.checkpoint_dir,
            log_dir=args.log_dir,
            resume=args.resume is not False,
            pipeline_id=args.resume if isinstance(args.resume, str) else None,
            console=args.verbose,
            rerun_from=args.rerun_from,
            rerun=_rerun(args),
            alerts=args.alert,
            resume_hint=lambda pipeline_id: resume_command(args, pipeline_id),
        )
    except (CheckpointError, ValueError, ImportError) as exc:  # ImportError: no Apprise
        raise _UsageError(str(exc)) from exc
    facts.update(pipeline_id=pipeline.pipeline_id, resumed=pipeline.resumed)
    params = {
        "tickers": args.tickers,
        "start": args.start,
        "end": args.end,
        "source": args.source,
    }
    by_name = {r.name: r for r in results}

    def fail_here(name: str) -> None:
        if args.fail_at == name:
            msg = f"injected failure in {name} (--fail-at {name})"
            raise InjectedFailure(msg)

    def stage(index: int, name: str, inputs: dict[str, Any]) -> Stage:
        progress.start(index, name)
        facts["current"] = name
        facts["stage"] = pipeline.stage(name, inputs=inputs, cache=args.cache)
        return facts["stage"]

    with pipeline, local_cluster(args.workers) as cluster:
        per_ticker = PerTicker(pipeline, cluster, cache=args.cache)
        with stage(1, "data_extraction", _extract_inputs(args)) as s:
            if not s.restored:
                raw = per_ticker.extract(
                    args.source, args.tickers, args.start, args.end,
                    progress=progress.callback("tickers"),
                )  # fmt: skip
                fail_here(s.name)
                s.checkpoint(raw, **params)
            raw = s.data
        _finish_stage(by_name[s.name], s, progress)

        with stage(2, "data_validation", {"code": validate, "raw": raw}) as s:
            if not s.restored:
                flagged, metrics = validate(raw, progress=progress.callback("tickers"))
                s.data_quality(**metrics)
                s.add_metadata(data_quality=metrics)
                fail_here(s.name)
                s.checkpoint(flagged, **metrics)
            flagged = s.data
        facts["quality"] = _quality_line(pipeline, s)
        _finish_stage(by_name[s.name], s, progress)

        with stage(3, "data_preprocessing", {"code": preprocess, "flagged": flagged}) as s:
            if not s.restored:
                processed = per_ticker.preprocess(flagged, progress=progress.callback("tickers"))
                fail_here(s.name)
                s.checkpoint(processed, filled=int(processed["was_filled"].sum()))
            processed = s.data
        _finish_stage(by_name[s.name], s, progress)

        tickers = sorted(processed["ticker"].unique().tolist())
        first = args.start or processed["date"].min().date().isoformat()
        last = args.end or processed["date"].max().date().isoformat()
        target = Path(args.output_dir) / output_filename(tickers, first, last)
        inputs = {"code": store, "processed": processed, "target": str(target.resolve())}
        with stage(4, "data_storage", inputs) as s:
            # The file is this stage's real output: write it again if it went missing or changed
            # since the result being restored was computed.
            rewrite = s.restored and not output_intact(s.data)
            if not s.restored or rewrite:
                fail_here(s.name)  # before writing: a failed run publishes nothing
                written = store(processed, target)
                s.checkpoint(written, output_path=str(target))
            facts["output"] = _display_path(str(s.data["path"].iloc[0]))
        _finish_stage(by_name[s.name], s, progress, rows=int(s.data["rows"].iloc[0]))
        if rewrite:
            result = by_name[s.name]
            result.status, result.why = "ran", "output file missing or changed"
            result.checkpoint_id = s.checkpoint_ids[-1]
        del facts["current"], facts["stage"]


def _display_path(path: str) -> str:
    """``path`` relative to the working directory when it lies inside it."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def _finish_stage(
    result: StageResult, s: Stage, progress: Progress, *, rows: int | None = None
) -> None:
    _record(result, s)
    if rows is not None:  # data_storage checkpoints a one-row summary: show the rows written
        result.rows = rows
    progress.finish(result.status, "" if result.rows is None else f"{result.rows:,} rows")


def _quality_line(pipeline: Pipeline, s: Stage) -> str:
    metrics: dict[str, Any] = s.metadata.get("data_quality") or {}
    if not metrics and s.restored_from and pipeline.manager is not None:
        metrics = pipeline.manager.get_state(s.restored_from).get("metadata") or {}
    labels = {
        "missing_values": "missing values",
        "outliers": "outliers",
        "duplicate_dates": "duplicate dates",
        "ohlc_violations": "OHLC violations",
        "nonpositive_prices": "non-positive prices",
        "missing_business_days": "missing business days",
    }
    found = [f"{metrics[k]:,} {label}" for k, label in labels.items() if metrics.get(k)]
    return ", ".join(found) if found else "no issues found"


def _summary(results: list[StageResult]) -> str:
    header = ("stage", "status", "duration", "rows", "checkpoint")
    rows = [header]
    rows += [
        (
            r.name,
            r.status,
            "-" if r.duration is None else f"{r.duration:.2f}s",
            "-" if r.rows is None else f"{r.rows:,}",
            r.checkpoint_id or "-",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    right = {2, 3}
    return "\n".join(
        "  ".join(
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    )


def _reuse_lines(results: list[StageResult]) -> list[str]:
    """What came from earlier runs' results, and why each stage that could not reuse one ran."""
    lines = [f"reran         {r.name}: {r.why}" for r in results if r.why]
    cached = sum(r.status == "cached" for r in results)
    if cached:
        lines.append(
            f"cache         {cached} of {len(results)} stages restored from earlier runs "
            "(same code and inputs); --rerun-from STAGE runs them again"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job; returns the exit status (argument errors exit 2 from argparse)."""
    args = parse_args(argv)
    live = sys.stderr.isatty() and not args.verbose and os.environ.get("TERM") != "dumb"
    progress = Progress(sys.stderr, live=live)
    results = [StageResult(name) for name in STAGES]
    t0 = time.perf_counter()
    facts: dict[str, Any] = {}
    try:
        run(args, results, progress, facts)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _UsageError as exc:
        print(f"run_etl_pipeline.py: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # a stage failed: report it in one line, point at --resume
        return _report_failure(args, results, progress, facts, exc)
    elapsed = time.perf_counter() - t0
    verb = "resumed and completed" if facts["resumed"] else "completed"
    print(f"Pipeline {facts['pipeline_id']} {verb} in {elapsed:.2f}s\n")
    print(_summary(results))
    print()
    for line in _reuse_lines(results):
        print(line)
    print(f"data quality  {facts.get('quality', '-')}")
    print(f"output        {facts['output']}")
    print(f"pipeline      {facts['pipeline_id']}")
    _print_locations(args)
    return 0


def _print_locations(args: argparse.Namespace, stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    print(f"checkpoints   {args.checkpoint_dir}", file=out)
    logs = Path(args.log_dir)
    print(
        f"logs          {logs / 'pipeline.log'}, {logs / 'events' / 'events.log'}, "
        f"{logs / 'errors' / 'errors.log'}",
        file=out,
    )


def _report_failure(
    args: argparse.Namespace,
    results: list[StageResult],
    progress: Progress,
    facts: dict[str, Any],
    exc: Exception,
) -> int:
    failed = next((r for r in results if r.status == "not run"), None)
    if failed is not None and "current" in facts:
        failed.status = "failed"
        failed.duration = facts["stage"].duration_seconds
        progress.finish("failed", type(exc).__name__)
    if args.verbose and "current" not in facts:  # a stage's error record already has it
        traceback.print_exception(exc, file=sys.stderr)
    where = f"stage {facts['current']}" if "current" in facts else "the pipeline"
    print(f"error: {where} failed: {type(exc).__name__}: {exc}\n", file=sys.stderr)
    print(_summary(results), file=sys.stderr)
    print(file=sys.stderr)
    _print_locations(args, sys.stderr)
    if "pipeline_id" in facts:
        print(f"pipeline      {facts['pipeline_id']}", file=sys.stderr)
        print(f"resume with   {resume_command(args, facts['pipeline_id'])}", file=sys.stderr)
    return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
