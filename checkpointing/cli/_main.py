"""``python -m checkpointing``: inspect, verify and tidy a checkpoint directory."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from checkpointing._errors import CheckpointError
from checkpointing.cli._progress import progress_bar
from checkpointing.cli._report import add_commands as add_report_commands
from checkpointing.cli._runs import add_commands as add_run_commands
from checkpointing.cli._serve import add_commands as add_serve_commands
from checkpointing.pipeline._run_query import resolve_checkpoint_id, unique_match
from checkpointing.store._manager import CheckpointManager

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__: list[str] = []  # the entry point is checkpointing.__main__.main


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m checkpointing", description="Inspect and maintain a checkpoint directory."
    )
    parser.add_argument("--dir", default="data/checkpoints", help="checkpoint directory")
    parser.add_argument("--log-dir", default="logs", help="log directory (events are read there)")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text)
        command.add_argument("--json", action="store_true", help="machine-readable output")
        return command

    add("list", "list checkpoints, newest first").add_argument("--pipeline", default=None)
    add("show", "show a checkpoint's manifest").add_argument("checkpoint_id")
    add("verify", "verify checkpoints in full (SHA-256 and decoding)").add_argument(
        "checkpoint_ids", nargs="*", metavar="ID"
    )
    add("delete", "delete a checkpoint").add_argument("checkpoint_id")
    add("cleanup", "delete old checkpoints and leftovers").add_argument(
        "--retention-days", type=float, default=7.0
    )
    add("progress", "show a pipeline's progress").add_argument("pipeline_id")
    add("rebuild", "rebuild the registry from the manifests")
    diff = add("diff", "compare the data of two checkpoints")
    diff.add_argument("id_a")
    diff.add_argument("id_b")
    _COMMANDS.update(add_run_commands(add))
    _COMMANDS.update(add_report_commands(add))
    _COMMANDS.update(add_serve_commands(add))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 bad checkpoints or error, 2 usage).

    Errors are reported as one line on stderr, never as a traceback.
    """
    args = _parser().parse_args(argv)
    manager = CheckpointManager(args.dir)
    try:
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
    found = manager.list_checkpoints(args.pipeline)
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
    with progress_bar("verify", unit="checkpoint") as progress:
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
    with progress_bar("cleanup", unit="checkpoint") as progress:
        deleted = manager.cleanup_old_checkpoints(args.retention_days, progress=progress)
    _emit(args, {"deleted": deleted}, f"deleted {deleted} checkpoint(s)")
    return 0


def _progress(manager: CheckpointManager, args: argparse.Namespace) -> int:
    pipeline_id = args.pipeline_id
    if not manager.list_checkpoints(pipeline_id):  # perhaps a prefix of a pipeline id
        ids = {e["pipeline_id"] for e in manager.list_checkpoints()}
        pipeline_id = unique_match(pipeline_id, ids, what="pipeline") or pipeline_id
    progress = manager.get_pipeline_progress(pipeline_id)
    text = "\n".join(
        [
            f"pipeline           {progress['pipeline_id']}",
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
    with progress_bar("diff", unit="step") as progress:
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
