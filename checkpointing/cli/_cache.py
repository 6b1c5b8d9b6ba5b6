"""``python -m checkpointing invalidate`` and ``fingerprint``: the cross-run cache, explained."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from checkpointing.pipeline._cache import invalidate_cache
from checkpointing.pipeline._fingerprint import explain
from checkpointing.pipeline._run_query import resolve_checkpoint_id

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from checkpointing.store._manager import CheckpointManager

__all__: list[str] = []


def add_commands(
    add: Callable[[str, str], argparse.ArgumentParser],
) -> dict[str, Callable[[CheckpointManager, argparse.Namespace], int]]:
    """Add ``invalidate`` and ``fingerprint`` with ``add(name, help)``; return their handlers."""
    invalidate = add("invalidate", "mark cached results stale (their checkpoints are kept)")
    invalidate.add_argument("pipeline", help="pipeline name")
    invalidate.add_argument("stage", nargs="?", default=None, help="only this stage")
    show = add("fingerprint", "show a checkpoint's fingerprint, or why two differ")
    show.add_argument("checkpoint_id")
    show.add_argument("other_id", nargs="?", default=None, help="explain how OTHER_ID differs")
    return {"invalidate": _invalidate, "fingerprint": _fingerprint}


def _invalidate(manager: CheckpointManager, args: argparse.Namespace) -> int:
    count = invalidate_cache(args.pipeline, args.stage, checkpoint_dir=manager.location)
    what = f"{args.pipeline} stage {args.stage}" if args.stage else args.pipeline
    text = f"marked {count} cached result(s) of {what} stale (their checkpoints are kept)"
    _emit(args, {"invalidated": count, "pipeline": args.pipeline, "stage": args.stage}, text)
    return 0


def _fingerprint(manager: CheckpointManager, args: argparse.Namespace) -> int:
    document = _document(manager, args.checkpoint_id)
    if args.other_id is None:
        _emit(args, document, "\n".join(_describe(document)) if document else "no fingerprint")
        return 0
    other = _document(manager, args.other_id)
    if other is None:
        reason = "no fingerprint recorded"
    elif document is not None and other == document:
        reason = "same fingerprint"
    else:
        reason = explain(document, other)
    _emit(args, {"reason": reason}, f"{args.other_id} vs {args.checkpoint_id}: {reason}")
    return 0


def _document(manager: CheckpointManager, checkpoint_id: str) -> dict[str, Any] | None:
    recorded = manager.get_state(resolve_checkpoint_id(manager, checkpoint_id)).get("fingerprint")
    if not isinstance(recorded, dict) or not isinstance(recorded.get("document"), dict):
        return None
    return dict(recorded["document"]) | {"sha256": recorded.get("sha256")}


def _describe(document: dict[str, Any]) -> list[str]:
    """The fingerprint as people read it: what was hashed, what was not."""
    env = document.get("environment") or {}
    lines = [
        f"fingerprint  {document.get('sha256')}",
        f"stage        {document.get('stage')}"
        + (f" (key {document['key']})" if document.get("key") else ""),
        f"version      {document.get('version') if document.get('version') is not None else '-'}",
        "environment  " + ", ".join(f"{k} {v}" for k, v in sorted(env.items())),
    ]
    for path, leaf in (document.get("inputs") or {}).items():
        kind = leaf.get("kind")
        detail = ""
        if kind in ("frame", "series", "index", "table"):
            detail = f"{leaf.get('rows')} rows, content {str(leaf.get('content'))[:24]}..."
        elif kind == "code":
            detail = _code_summary(leaf.get("tree"))
        lines.append(f"input        {path}: {kind} {detail}".rstrip())
    if document.get("code") is not None:
        lines.append(f"code         {_code_summary(document['code'])}")
    return lines


def _code_summary(tree: Any) -> str:
    functions: list[str] = []
    unhashed: list[str] = []

    def walk(node: Any, label: str) -> None:
        if not isinstance(node, dict):
            return
        if node.get("kind") in ("function", "class") and "see" not in node:
            functions.append(str(node.get("name")))
        if node.get("kind") == "opaque":
            unhashed.append(f"{label} ({node.get('type')})")
        for key, child in (
            (node.get("refs") or {}).items() if isinstance(node.get("refs"), dict) else ()
        ):
            walk(child, key.partition(" ")[2])

    walk(tree, "")
    text = "functions " + ", ".join(functions) if functions else "library code"
    return text + (f"; not hashed: {', '.join(unhashed)}" if unhashed else "")


def _emit(args: argparse.Namespace, obj: Any, text: str) -> None:
    print(json.dumps(obj, indent=2, allow_nan=False) if args.json else text)
