"""``python -m checkpointing compact``: rewrite old checkpoints with a stronger codec."""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from checkpointing.cli._progress import progress_bar
from checkpointing.store._compact import CODECS, LEVELS, check_codec

if TYPE_CHECKING:
    from collections.abc import Callable

    from checkpointing.store._compact import CompactionResult
    from checkpointing.store._manager import CheckpointManager

__all__: list[str] = []

_SPAN = re.compile(r"(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>[smhdw]?)")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks", "": "days"}


def span(text: str) -> timedelta:
    """``--older-than``: ``90s``, ``30m``, ``12h``, ``2d``, ``1w``, or a number of days."""
    found = _SPAN.fullmatch(text.strip())
    try:
        if found is None:
            raise ValueError(text)
        number = float(found["number"])
        if not math.isfinite(number):
            raise ValueError(text)
        delta = timedelta(**{_UNITS[found["unit"]]: number})
        datetime.now(UTC) - delta  # OverflowError unless the cutoff is a date
    except (ValueError, OverflowError):
        msg = f"invalid age: {text!r} (need e.g. 90s, 30m, 12h, 2d, 1w or a number of days"
        raise argparse.ArgumentTypeError(msg + ", not reaching back before year 1)") from None
    return delta


def add_commands(
    add: Callable[[str, str], argparse.ArgumentParser],
) -> dict[str, Callable[[CheckpointManager, argparse.Namespace], int]]:
    """Add ``compact`` with ``add(name, help)``; return its handler."""
    compact = add("compact", "rewrite old checkpoints with a stronger codec, in place")
    compact.add_argument(
        "--older-than",
        type=span,
        required=True,
        metavar="AGE",
        help="only checkpoints older than this: 12h, 2d, 1w, ... (a bare number is days)",
    )
    compact.add_argument("--codec", choices=CODECS, default="zstd", help="default: zstd")
    levels = ", ".join(f"{c} {low}-{high}" for c, (low, high) in LEVELS.items())
    compact.add_argument(
        "--level",
        type=int,
        default=None,
        help=f"compression level ({levels}); default: the codec's",
    )
    compact.add_argument("--pipeline", default=None, metavar="ID", help="only this pipeline")
    compact.add_argument("--dry-run", action="store_true", help="only list what would be rewritten")
    return {"compact": _compact}


def _compact(manager: CheckpointManager, args: argparse.Namespace) -> int:
    try:
        check_codec(args.codec, args.level)
    except ValueError as exc:
        print(f"python -m checkpointing compact: error: {exc}", file=sys.stderr)
        return 2
    with progress_bar("compact", unit="checkpoint", enabled=not args.no_progress) as progress:
        result = manager.compact(
            older_than=args.older_than,
            codec=args.codec,
            level=args.level,
            pipeline_id=args.pipeline,
            dry_run=args.dry_run,
            progress=progress,
        )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, allow_nan=False))
    else:
        print("\n".join(describe(result)))
    return 1 if result.failed else 0


def describe(result: CompactionResult) -> list[str]:
    """The lines ``compact`` prints for ``result``."""
    codec = result.codec if result.level is None else f"{result.codec} level {result.level}"
    count = len(result.rewritten)
    if result.dry_run:
        lines = [f"would compact {count} checkpoint(s) to {codec} ({_size(result.bytes_before)})"]
        lines += [f"  checkpoint {c}" for c in result.rewritten]
    elif result.bytes_after is not None and count:
        share = result.bytes_saved / result.bytes_before if result.bytes_before else 0.0
        sizes = f"{_size(result.bytes_before)} -> {_size(result.bytes_after)}"
        saved = f"saved {_size(result.bytes_saved)} ({share:.0%})"
        lines = [f"compacted {count} checkpoint(s) to {codec}: {sizes}, {saved}"]
    else:
        lines = [f"compacted 0 checkpoint(s) to {codec}"]
    if result.skipped:
        lines.append(f"skipped {len(result.skipped)} already at {codec}")
    lines += [f"FAILED {cid}: {error}" for cid, error in result.failed]
    return lines


def _size(count: int) -> str:
    """``count`` bytes for people: ``812 bytes``, ``45.1 MB``."""
    if abs(count) < 1000:
        return f"{count} bytes"
    value, unit = count / 1000, "kB"
    for bigger in ("MB", "GB"):
        if abs(value) < 1000:
            break
        value, unit = value / 1000, bigger
    return f"{value:.1f} {unit}"
