"""``python -m logging_ext``: read events, summaries and log files from the command line."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from logging_ext._query import read_events, summarize_events
from logging_ext._retention import cleanup_old_logs

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["main"]

_FILES = {
    "pipeline": Path("pipeline.log"),
    "events": Path("events") / "events.log",
    "errors": Path("errors") / "errors.log",
}
_EVENT_COLUMNS = ("timestamp", "event_type", "pipeline_id", "stage", "status", "metadata")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; try '{self.prog} --help'\n")


def _span(unit: str) -> Callable[[str], float]:
    """An argument type: a finite, non-negative number of ``unit`` that a date can go back."""

    def parse(text: str) -> float:
        try:
            value = float(text)
            if not math.isfinite(value) or value < 0:
                raise ValueError(text)
            # OverflowError unless the cutoff (now minus the span) is a date
            datetime.now(UTC) - timedelta(**{unit: value})
        except (ValueError, OverflowError):
            msg = f"invalid number of {unit}: {text!r}"
            msg += " (need a finite number, 0 or more, not reaching back before year 1)"
            raise argparse.ArgumentTypeError(msg) from None
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m logging_ext", description="Inspect a stagepoint log directory."
    )
    parser.add_argument("--log-dir", default="logs", type=Path, help="default: logs")
    commands = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=help_text)
        # The global option again, so that it also works after the command (and wins there).
        command.add_argument(
            "--log-dir", default=argparse.SUPPRESS, type=Path, help="default: logs"
        )
        return command

    events = add("events", "list events, oldest first")
    events.add_argument("--pipeline", help="only this pipeline id")
    events.add_argument("--type", dest="event_type", help="only this event type")
    events.add_argument(
        "--hours", type=_span("hours"), default=24.0, help="window (default 24; 0: all)"
    )
    events.add_argument("--json", action="store_true", help="one JSON object per line")
    summary = add("summary", "summarise one pipeline run")
    summary.add_argument("pipeline_id", help="a pipeline id, or a prefix of one run's id")
    summary.add_argument("--attempt", type=int, help="which attempt (default: the latest)")
    summary.add_argument("--json", action="store_true", help="the summary as JSON")
    tail = add("tail", "print the last lines of a log file")
    tail.add_argument("-n", type=int, default=10, help="number of lines (default 10)")
    tail.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    tail.add_argument("--file", choices=sorted(_FILES), default="pipeline")
    cleanup = add("cleanup", "delete old rotated log files")
    cleanup.add_argument("--retention-days", type=_span("days"), default=7.0, help="default 7")
    return parser


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


def _events(args: argparse.Namespace) -> int:
    since = time.time() - args.hours * 3600 if args.hours > 0 else None
    found = read_events(
        args.log_dir, pipeline_id=args.pipeline, event_type=args.event_type, since=since
    )
    if args.json:
        for event in found:
            print(json.dumps(event))
    elif found:
        print(_table(found, _EVENT_COLUMNS))
    else:
        print("no events")
    return 0


def _summary(args: argparse.Namespace) -> int:
    pipeline_id = args.pipeline_id
    events = read_events(args.log_dir, pipeline_id=pipeline_id)
    try:
        if not events:  # not an id: perhaps a prefix of one
            pipeline_id = _resolve_prefix(args.log_dir, pipeline_id)
            events = read_events(args.log_dir, pipeline_id=pipeline_id)
        summary = summarize_events(pipeline_id, events, attempt=args.attempt)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    if summary["total_events"] == 0:
        print(f"error: no events for pipeline {args.pipeline_id!r}", file=sys.stderr)
        return 1
    rows = [
        ("pipeline", summary["pipeline_id"]),
        ("attempt", f"{summary['attempt']} of {summary['attempts']}"),
        ("status", summary["status"]),
        ("started", summary["started_at"]),
        ("finished", summary["finished_at"]),
        ("duration", f"{summary['duration_seconds']:.3f} s"),
        ("events", summary["total_events"]),
        ("completed", ", ".join(map(str, summary["stages_completed"])) or "-"),
        ("failed", ", ".join(map(str, summary["stages_failed"])) or "-"),
        ("checkpoints", len(summary["checkpoints"])),
        ("warnings", len(summary["warnings"])),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")
    for error in summary["errors"]:
        print(f"error in {error['stage']}: {error['error_type']}: {error['error']}")
    return 0


def _resolve_prefix(log_dir: Path, prefix: str) -> str:
    """The one pipeline id in the events that starts with ``prefix`` (``prefix`` if none).

    Raises:
        ValueError: Several pipeline ids start with it.
    """
    ids = {e.get("pipeline_id") for e in read_events(log_dir, event_type="pipeline_start")}
    matches = sorted(i for i in ids if isinstance(i, str) and i.startswith(prefix))
    if len(matches) > 1:
        shown = ", ".join(matches[:5]) + (" ..." if len(matches) > 5 else "")
        msg = f"pipeline id prefix {prefix!r} is ambiguous: it matches {shown}"
        raise ValueError(msg)
    return matches[0] if matches and prefix else prefix


def _human(line: str) -> str:
    try:
        record = json.loads(line)
    except ValueError:
        return line
    if not isinstance(record, dict):
        return line
    if "event_type" in record and "level" not in record:
        return "  ".join(_cell(record.get(c)) for c in _EVENT_COLUMNS)
    where = f"{_cell(record.get('pipeline_id'))}/{_cell(record.get('stage'))}"
    text = f"{record.get('timestamp')} {record.get('level', '-'):<7} {where} "
    text += f"{record.get('logger')}: {record.get('message')}"
    if record.get("traceback"):
        text += "\n" + str(record["traceback"])
    return text


def _tail(args: argparse.Namespace) -> int:
    path = args.log_dir / _FILES[args.file]
    if not path.exists():
        print(f"error: {path} does not exist", file=sys.stderr)
        return 1
    with path.open("rb") as stream:
        lines = stream.read().decode("utf-8", "replace").splitlines()
        for line in lines[-args.n :] if args.n > 0 else []:
            print(_human(line))
        if not args.follow:
            return 0
        position = stream.tell()
    return _follow(path, position)


def _follow(path: Path, position: int) -> int:
    identity = path.stat().st_ino
    pending = b""
    try:
        while True:
            try:
                st = path.stat()
            except FileNotFoundError:
                time.sleep(0.5)
                continue
            if st.st_ino != identity or st.st_size < position:
                identity, position = st.st_ino, 0
            if st.st_size > position:
                with path.open("rb") as stream:
                    stream.seek(position)
                    chunk = stream.read()
                    position = stream.tell()
                *complete, pending = (pending + chunk).split(b"\n")
                for line in complete:
                    print(_human(line.decode("utf-8", "replace")), flush=True)
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0


def _cleanup(args: argparse.Namespace) -> int:
    deleted = cleanup_old_logs(args.log_dir, args.retention_days)
    print(f"deleted {deleted} rotated log file(s)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit status.

    Commands: ``events [--pipeline ID] [--type T] [--hours H] [--json]``,
    ``summary PIPELINE_ID [--json]``, ``tail [-n N] [-f] [--file pipeline|events|errors]`` and
    ``cleanup [--retention-days N]``, each with ``[--log-dir DIR]`` (default ``logs``) before or
    after the command (after it, it wins). Every command needs an existing log directory.
    Errors print one line on stderr and give a non-zero status (2 for bad arguments).
    """
    args = _parser().parse_args(argv)
    if not args.log_dir.is_dir():
        problem = "is not a directory" if args.log_dir.exists() else "does not exist"
        print(f"error: log directory {str(args.log_dir)!r} {problem}", file=sys.stderr)
        return 1
    handlers = {"events": _events, "summary": _summary, "tail": _tail, "cleanup": _cleanup}
    try:
        return handlers[args.command](args)
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as other shell tools do.
        _silence_stdout()
        return 1
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that flushing it at exit raises no second BrokenPipeError."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
