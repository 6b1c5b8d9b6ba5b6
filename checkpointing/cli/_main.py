"""``python -m checkpointing``: inspect, verify and tidy a checkpoint directory."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from checkpointing._errors import CheckpointError, IntegrityError
from checkpointing.store._manager import CheckpointManager

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__: list[str] = []  # the entry point is checkpointing.__main__.main


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m checkpointing", description="Inspect and maintain a checkpoint directory."
    )
    parser.add_argument("--dir", default="data/checkpoints", help="checkpoint directory")
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
    cleanup = add("cleanup", "delete old checkpoints and leftovers")
    cleanup.add_argument("--retention-days", type=float, default=7.0)
    cleanup.add_argument(
        "--keep-last", type=int, default=None, metavar="N", help="keep the last N runs regardless"
    )
    cleanup.add_argument("--dry-run", action="store_true", help="only show what would go")
    cleanup.add_argument(
        "--pipeline", default=None, metavar="NAME", help="only this pipeline's runs/checkpoints"
    )
    add("progress", "show a pipeline's progress").add_argument("pipeline_id")
    add("rebuild", "rebuild the registry from the manifests")
    diff = add("diff", "compare the data of two checkpoints")
    diff.add_argument("id_a")
    diff.add_argument("id_b")
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
    state = manager.get_state(args.checkpoint_id)
    width = max(len(k) for k in state)
    text = "\n".join(
        f"{k.ljust(width)}  {json.dumps(v) if isinstance(v, dict | list) else v}"
        for k, v in state.items()
    )
    _emit(args, state, text)
    return 0


def _verify(manager: CheckpointManager, args: argparse.Namespace) -> int:
    ids = args.checkpoint_ids or [e["checkpoint_id"] for e in manager.list_checkpoints()]
    results = []
    for cid in ids:
        try:
            manager.verify_checkpoint(cid)
            results.append({"checkpoint_id": cid, "ok": True, "error": None})
        except (IntegrityError, CheckpointError) as exc:
            results.append({"checkpoint_id": cid, "ok": False, "error": str(exc)})
    bad = [r for r in results if not r["ok"]]
    lines = [f"{'ok ' if r['ok'] else 'BAD'}  {r['checkpoint_id']}" for r in results]
    lines += [f"  {r['error']}" for r in bad]
    lines.append(f"{len(results) - len(bad)} ok, {len(bad)} bad")
    _emit(args, {"checked": len(results), "bad": bad, "results": results}, "\n".join(lines))
    return 1 if bad else 0


def _delete(manager: CheckpointManager, args: argparse.Namespace) -> int:
    if not manager.delete_checkpoint(args.checkpoint_id):
        print(f"error: no checkpoint with id {args.checkpoint_id!r}", file=sys.stderr)
        return 1
    _emit(args, {"deleted": args.checkpoint_id}, f"deleted {args.checkpoint_id}")
    return 0


def _cleanup(manager: CheckpointManager, args: argparse.Namespace) -> int:
    from checkpointing.pipeline._retention import apply_retention

    result = apply_retention(
        manager,
        name=args.pipeline,
        retention_days=args.retention_days,
        keep_last=args.keep_last,
        dry_run=args.dry_run,
        standalone=True,
        sweep=True,
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
    progress = manager.get_pipeline_progress(args.pipeline_id)
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

    result = diff_checkpoints(manager, args.id_a, args.id_b)
    _emit(args, result.to_dict(), result.format())
    return 0


_COMMANDS = {
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
