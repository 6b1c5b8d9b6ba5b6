"""``report``: write the one-file HTML report of a run."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from checkpointing.pipeline._run_query import latest_run_id, resolve_run_id
from checkpointing.report._render import write_report

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from checkpointing.store._manager import CheckpointManager

__all__: list[str] = []


def add_commands(
    add: Callable[[str, str], argparse.ArgumentParser],
) -> dict[str, Callable[[CheckpointManager, argparse.Namespace], int]]:
    """Add ``report`` with ``add(name, help)``; return its handler by name."""
    report = add("report", "write a run's report: one HTML file that opens offline")
    which = report.add_mutually_exclusive_group(required=True)
    which.add_argument("pipeline_id", nargs="?", help="a pipeline id, or a unique prefix of one")
    which.add_argument("--last", action="store_true", help="the most recently started run")
    report.add_argument("--name", help="with --last: the last run of this pipeline name")
    report.add_argument(
        "-o", "--output", help="the HTML file to write (default: report-<pipeline id>.html)"
    )
    return {"report": _report}


def _report(manager: CheckpointManager, args: argparse.Namespace) -> int:
    dirs = {"checkpoint_dir": manager.location, "log_dir": args.log_dir}
    if args.last:
        pipeline_id = latest_run_id(**dirs, name=args.name)
    else:
        pipeline_id = resolve_run_id(args.pipeline_id, **dirs)
    path = write_report(pipeline_id, args.output or f"report-{pipeline_id}.html", **dirs)
    if args.json:
        print(json.dumps({"pipeline_id": pipeline_id, "path": str(path)}))
    else:
        print(f"wrote {path}")
    return 0
