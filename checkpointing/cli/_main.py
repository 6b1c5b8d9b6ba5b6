"""``python -m checkpointing``: inspect, verify and tidy a checkpoint directory."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from checkpointing._errors import (
    CheckpointError,
    InvalidNameError,
    RunNotFoundError,
)
from checkpointing.cli._cache import add_commands as add_cache_commands
from checkpointing.cli._compact import add_commands as add_compact_commands
from checkpointing.cli._progress import progress_bar
from checkpointing.cli._report import add_commands as add_report_commands
from checkpointing.cli._runs import add_commands as add_run_commands
from checkpointing.cli._serve import add_commands as add_serve_commands
from checkpointing.pipeline._retention import apply_retention
from checkpointing.pipeline._run_query import resolve_checkpoint_id, unique_match
from checkpointing.pipeline._runs import RunStore
from checkpointing.storage._open import is_object_url
from checkpointing.store._manager import CheckpointManager

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__: list[str] = []  # the entry point is checkpointing.__main__.main


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; try '{self.prog} --help'\n")


def _days(text: str) -> float:
    """``--retention-days``: a finite, non-negative number of days that a date can go back."""
    try:
        days = float(text)
        if not math.isfinite(days) or days < 0:
            raise ValueError(text)
        # OverflowError unless the cutoff (now minus the span) is a date
        datetime.now(UTC) - timedelta(days=days)
    except (ValueError, OverflowError):
        msg = f"invalid number of days: {text!r}"
        msg += " (need a finite number, 0 or more, not reaching back before year 1)"
        raise argparse.ArgumentTypeError(msg) from None
    return days


def _count(text: str) -> int:
    """``--keep-last``: a whole number, 0 or more."""
    try:
        count = int(text)
        if count < 0:
            raise ValueError(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid count: {text!r} (need 0 or more)") from None
    return count


def _add_global_options(parser: argparse.ArgumentParser, *, after_command: bool) -> None:
    """``--dir``, ``--log-dir`` and ``--no-progress``, before the command (defaults) or after it
    (overrides)."""
    default_dir, default_log_dir = (
        (argparse.SUPPRESS, argparse.SUPPRESS) if after_command else ("data/checkpoints", "logs")
    )
    parser.add_argument(
        "--dir",
        default=default_dir,
        help="checkpoint directory or object store URL (default: data/checkpoints)",
    )
    parser.add_argument(
        "--log-dir",
        default=default_log_dir,
        help="log directory, for commands that read events (default: logs)",
    )
    parser.add_argument(
        "--no-progress",
        action="store_true",
        default=argparse.SUPPRESS if after_command else False,
        help="never draw a progress bar (one is drawn on stderr only when it is a terminal)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m checkpointing", description="Inspect and maintain a checkpoint directory."
    )
    _add_global_options(parser, after_command=False)
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text)
        command.add_argument("--json", action="store_true", help="machine-readable output")
        _add_global_options(command, after_command=True)
        return command

    add("list", "list checkpoints, newest first").add_argument("--pipeline", default=None)
    add("show", "show a checkpoint's manifest").add_argument("checkpoint_id")
    add("verify", "verify checkpoints in full (SHA-256 and decoding)").add_argument(
        "checkpoint_ids", nargs="*", metavar="ID"
    )
    add("delete", "delete a checkpoint").add_argument("checkpoint_id")
    cleanup = add("cleanup", "delete old runs, checkpoints and leftovers")
    cleanup.add_argument(
        "--retention-days", type=_days, default=7.0, metavar="DAYS", help="default: 7"
    )
    cleanup.add_argument(
        "--keep-last", type=_count, default=None, metavar="N", help="keep the last N runs anyway"
    )
    cleanup.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    cleanup.add_argument(
        "--pipeline", default=None, metavar="NAME", help="only this pipeline's runs and checkpoints"
    )
    add("progress", "show a pipeline's progress").add_argument("pipeline_id")
    add("rebuild", "rebuild the registry from the manifests")
    diff = add("diff", "compare the data of two checkpoints")
    diff.add_argument("id_a")
    diff.add_argument("id_b")
    _COMMANDS.update(add_run_commands(add))
    _COMMANDS.update(add_report_commands(add))
    _COMMANDS.update(add_serve_commands(add))
    _COMMANDS.update(add_cache_commands(add))
    _COMMANDS.update(add_compact_commands(add))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 bad checkpoints or error, 2 usage).

    The global options (``--dir``, ``--log-dir``) go before or after the command; after it,
    they win. Every command needs an existing checkpoint directory (none creates one), so a
    mistyped ``--dir`` fails instead of reporting an empty store. Errors are reported as one
    line on stderr, never as a traceback.
    """
    args = _parser().parse_args(argv)
    if not is_object_url(args.dir):
        root = Path(args.dir)
        if not root.is_dir():
            problem = "is not a directory" if root.exists() else "does not exist"
            print(f"error: checkpoint directory {args.dir!r} {problem}", file=sys.stderr)
            return 1
    try:
        manager = CheckpointManager(args.dir)
        if not manager.storage.root_exists():
            print(
                f"error: checkpoint store {args.dir!r} is empty or does not exist", file=sys.stderr
            )
            return 1
        return _COMMANDS[args.command](manager, args)
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as other shell tools do.
        _silence_stdout()
        return 1
    except (CheckpointError, OSError, ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _emit(args: argparse.Namespace, obj: Any, text: str) -> None:
    if args.json:
        print(json.dumps(obj, indent=2, allow_nan=False))
    elif text:
        print(text)


def _table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    right = {"rows", "data_size", "size"}

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if c in right else v.ljust(w)
            for v, w, c in zip(values, widths, columns, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line([c.upper() for c in columns]), *(line(r) for r in cells)])


def _list(manager: CheckpointManager, args: argparse.Namespace) -> int:
    with progress_bar("list", unit="pipeline", enabled=not args.no_progress) as progress:
        found = manager.list_checkpoints(args.pipeline, progress=progress)
    text = (
        _table(found, ("checkpoint_id", "stage", "timestamp", "rows", "data_size"))
        if found
        else "no checkpoints"
    )
    _emit(args, found, text)
    return 0


def _show(manager: CheckpointManager, args: argparse.Namespace) -> int:
    state = manager.get_state(resolve_checkpoint_id(manager, args.checkpoint_id))
    width = max(len(k) for k in state)
    text = "\n".join(
        f"{k.ljust(width)}  {json.dumps(v) if isinstance(v, dict | list) else v}"
        for k, v in state.items()
    )
    _emit(args, state, text)
    return 0


def _verify(manager: CheckpointManager, args: argparse.Namespace) -> int:
    ids = [resolve_checkpoint_id(manager, i) for i in args.checkpoint_ids] or [
        e["checkpoint_id"] for e in manager.list_checkpoints()
    ]
    results = []
    with progress_bar("verify", unit="checkpoint", enabled=not args.no_progress) as progress:
        for done, cid in enumerate(ids):
            if progress is not None:
                progress(done, len(ids))
            results.append(_verify_one(manager, cid))
    bad = [r for r in results if not r["ok"]]
    lines = [f"{'ok ' if r['ok'] else 'BAD'}  {r['checkpoint_id']}" for r in results]
    lines += [f"  {r['error']}" for r in bad]
    lines.append(f"{len(results) - len(bad)} ok, {len(bad)} bad")
    _emit(args, {"checked": len(results), "bad": bad, "results": results}, "\n".join(lines))
    return 1 if bad else 0


def _verify_one(manager: CheckpointManager, checkpoint_id: str) -> dict[str, Any]:
    try:
        manager.verify_checkpoint(checkpoint_id)
    except CheckpointError as exc:
        return {"checkpoint_id": checkpoint_id, "ok": False, "error": str(exc)}
    return {"checkpoint_id": checkpoint_id, "ok": True, "error": None}


def _delete(manager: CheckpointManager, args: argparse.Namespace) -> int:
    args.checkpoint_id = resolve_checkpoint_id(manager, args.checkpoint_id)
    if not manager.delete_checkpoint(args.checkpoint_id):
        print(f"error: no checkpoint with id {args.checkpoint_id!r}", file=sys.stderr)
        return 1
    _emit(args, {"deleted": args.checkpoint_id}, f"deleted {args.checkpoint_id}")
    return 0


def _cleanup(manager: CheckpointManager, args: argparse.Namespace) -> int:
    with progress_bar("cleanup", unit="pipeline", enabled=not args.no_progress) as progress:
        result = apply_retention(
            manager,
            name=args.pipeline,
            retention_days=args.retention_days,
            keep_last=args.keep_last,
            dry_run=args.dry_run,
            standalone=True,
            sweep=True,
            progress=progress,
        )
    counts = f"{len(result.checkpoints)} checkpoint(s) and {len(result.runs)} run record(s)"
    if args.dry_run:
        lines = [f"would delete {counts}"]
        lines += [f"  checkpoint {c}" for c in result.checkpoints]
        lines += [f"  run        {r}" for r in result.runs]
        obj: dict[str, Any] = {"dry_run": True, "checkpoints": result.checkpoints}
        _emit(args, obj | {"runs": result.runs}, "\n".join(lines))
    else:
        obj = {"deleted": len(result.checkpoints), "deleted_runs": len(result.runs)}
        _emit(args, obj, f"deleted {counts}")
    return 0


def _progress(manager: CheckpointManager, args: argparse.Namespace) -> int:
    pipeline_id = args.pipeline_id
    if not manager.list_checkpoints(pipeline_id):  # perhaps a prefix of a pipeline id
        ids = {e["pipeline_id"] for e in manager.list_checkpoints()}
        ids.update(n[: -len(".json")] for n in manager.storage.names("runs") if n.endswith(".json"))
        pipeline_id = unique_match(pipeline_id, ids, what="pipeline") or pipeline_id
    progress = manager.get_pipeline_progress(pipeline_id)
    status = []
    with contextlib.suppress(RunNotFoundError, InvalidNameError):
        # A run's record knows which stages completed; checkpoints alone do not (a stage may
        # have saved one and then failed).
        record = RunStore(manager.storage).read(pipeline_id)
        progress["completed_stages"] = record.completed_stages()
        progress["status"] = record.status
        status = [f"status             {record.status}"]
    text = "\n".join(
        [
            f"pipeline           {progress['pipeline_id']}",
            *status,
            f"completed stages   {', '.join(progress['completed_stages']) or '-'}",
            f"total checkpoints  {progress['total_checkpoints']}",
            f"latest checkpoint  {progress['latest_checkpoint'] or '-'}",
        ]
    )
    _emit(args, progress, text)
    return 0


def _rebuild(manager: CheckpointManager, args: argparse.Namespace) -> int:
    count = manager.rebuild_registry()
    _emit(args, {"entries": count}, f"registry rebuilt with {count} checkpoint(s)")
    return 0


def _diff(manager: CheckpointManager, args: argparse.Namespace) -> int:
    from checkpointing.store._diff import diff_checkpoints

    ids = [resolve_checkpoint_id(manager, i) for i in (args.id_a, args.id_b)]
    with progress_bar("diff", unit="step", enabled=not args.no_progress) as progress:
        result = diff_checkpoints(manager, *ids, progress=progress)
    _emit(args, result.to_dict(), result.format())
    return 0


_COMMANDS: dict[str, Callable[[CheckpointManager, argparse.Namespace], int]] = {
    "list": _list,
    "show": _show,
    "verify": _verify,
    "delete": _delete,
    "cleanup": _cleanup,
    "progress": _progress,
    "rebuild": _rebuild,
    "diff": _diff,
}


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that flushing it at exit raises no second BrokenPipeError."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
