"""``runs`` and ``run``: the run history from the command line."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from checkpointing.cli._progress import progress_bar
from checkpointing.pipeline._run_model import RUN_STATUSES
from checkpointing.pipeline._run_query import get_run, list_runs

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from checkpointing.pipeline._run_model import Attempt, RunInfo, StageExecution
    from checkpointing.store._manager import CheckpointManager

__all__: list[str] = []


def add_commands(
    add: Callable[[str, str], argparse.ArgumentParser],
) -> dict[str, Callable[[CheckpointManager, argparse.Namespace], int]]:
    """Add ``runs`` and ``run`` with ``add(name, help)``; return their handlers by name."""
    runs = add("runs", "list runs, newest first (events are read from --log-dir)")
    runs.add_argument("--name", help="only runs of this pipeline name")
    runs.add_argument("--status", choices=RUN_STATUSES, help="only runs with this status")
    runs.add_argument("--since", type=_moment, help="only runs started since (ISO-8601 date/time)")
    run = add("run", "show one run, attempt by attempt, stage by stage")
    run.add_argument("pipeline_id", help="a pipeline id, or a unique prefix of one")
    run.add_argument("--attempt", type=int, help="only this attempt (default: all)")
    return {"runs": _runs, "run": _run}


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        msg = f"not an ISO-8601 date or time: {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    return moment if moment.tzinfo else moment.astimezone()


def seconds(value: float | None) -> str:
    """A duration for people: ``0.016 s``, ``12.3 s``, ``4 min 05 s``, ``2 h 03 min``."""
    if value is None:
        return "-"
    if value < 10:
        return f"{value:.3f} s"
    if value < 60:
        return f"{value:.1f} s"
    minutes, secs = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def when(stamp: str | None, *, time_only: bool = False) -> str:
    """An ISO-8601 time shortened for a table, in local time."""
    if stamp is None:
        return "-"
    try:
        moment = datetime.fromisoformat(stamp).astimezone()
    except ValueError:
        return stamp
    return f"{moment:%H:%M:%S}" if time_only else f"{moment:%Y-%m-%d %H:%M:%S}"


def table(rows: Sequence[Sequence[str]], columns: Sequence[str], right: set[str]) -> str:
    """Columns aligned with two spaces; names in ``right`` aligned right."""
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if c in right else v.ljust(w)
            for v, w, c in zip(values, widths, columns, strict=True)
        ).rstrip()

    return "\n".join([line([c.upper() for c in columns]), *(line(r) for r in rows)])


def _runs(manager: CheckpointManager, args: argparse.Namespace) -> int:
    with progress_bar("runs", unit="run", enabled=not args.no_progress) as progress:
        found = list_runs(
            checkpoint_dir=manager.location,
            log_dir=args.log_dir,
            name=args.name,
            status=args.status,
            since=args.since,
            progress=progress,
        )
    if args.json:
        print(json.dumps([r.to_json(executions=False) for r in found], indent=2))
        return 0
    if not found:
        print("no runs")
        return 0
    rows = [
        [
            r.pipeline_id,
            r.name,
            r.status,
            when(r.started_at),
            seconds(r.duration_seconds),
            str(len(r.attempts) or 1),
            f"{r.stages_done}/{r.stages_total}",
        ]
        for r in found
    ]
    columns = ("pipeline_id", "name", "status", "started", "duration", "attempts", "stages")
    print(table(rows, columns, {"duration", "attempts", "stages"}))
    return 0


def _run(manager: CheckpointManager, args: argparse.Namespace) -> int:
    run = get_run(args.pipeline_id, checkpoint_dir=manager.location, log_dir=args.log_dir)
    attempts = [a for a in run.attempts if args.attempt in (None, a.number)]
    if args.attempt is not None and not attempts:
        msg = f"run {run.pipeline_id!r} has no attempt {args.attempt}"
        raise ValueError(msg)
    if args.json:
        obj = run.to_json()
        obj["attempts"] = [a.to_json() for a in attempts]
        print(json.dumps(obj, indent=2, allow_nan=False))
        return 0
    print(_header(run))
    for attempt in attempts:
        print()
        print(_attempt_text(attempt))
    return 0


def _header(run: RunInfo) -> str:
    lines = [
        ("pipeline", run.pipeline_id),
        ("name", run.name),
        ("status", run.status),
        ("started", when(run.started_at)),
        ("finished", when(run.finished_at)),
        ("duration", seconds(run.duration_seconds)),
        ("attempts", str(len(run.attempts))),
        ("stages", f"{run.stages_done}/{run.stages_total} done"),
    ]
    if run.host:
        lines.append(("host", f"{run.host} (pid {run.pid})"))
    if run.error:
        stage = f" in stage {run.error.get('stage')}" if run.error.get("stage") else ""
        lines.append(("error", f"{run.error.get('type')}{stage}: {run.error.get('message')}"))
    width = max(len(k) for k, _ in lines)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in lines)


def _attempt_text(attempt: Attempt) -> str:
    title = f"attempt {attempt.number}: {attempt.status}, {when(attempt.started_at)}"
    title += f", {seconds(attempt.duration_seconds)}"
    if attempt.reason:
        title += f" ({attempt.reason})"
    rows = [_row(e) for e in attempt.executions]
    columns = ("stage", "status", "start", "duration", "cpu", "rows", "checkpoint", "error")
    text = [title]
    if rows:
        text.append(table(rows, columns, {"duration", "cpu", "rows"}))
    text.extend(
        f"\n{e.label} failed:\n{e.error['traceback']}"
        for e in attempt.executions
        if e.error and e.error.get("traceback")
    )
    return "\n".join(text)


def _row(execution: StageExecution) -> list[str]:
    error: dict[str, Any] = execution.error or {}
    checkpoint = execution.restored_from or (
        execution.checkpoint_ids[-1] if execution.checkpoint_ids else None
    )
    return [
        ("  " if execution.parent else "") + execution.label,
        execution.status.replace("_", " "),
        when(execution.started_at, time_only=True),
        seconds(execution.duration_seconds),
        seconds(execution.cpu_seconds),
        "-" if execution.rows is None else str(execution.rows),
        "-" if checkpoint is None else "…" + checkpoint[-8:],
        f"{error.get('type')}: {error.get('message')}" if error else "",
    ]
