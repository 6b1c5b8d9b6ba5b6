"""The one-file HTML report of a run: Jinja2 templates, inline SVG timeline, no network.

Everything the run produced (names, keys, metadata, error messages, tracebacks) goes through
Jinja2's autoescaping, so it shows as text. The page carries a Content-Security-Policy that
allows no request at all and runs only the report's own script (by its hash): even a value that
escaped escaping could neither load anything nor run.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checkpointing.pipeline._run_model import STAGE_STATUSES
from checkpointing.pipeline._run_query import get_run
from checkpointing.report._timeline import layout, tick_text
from checkpointing.store._manager import CheckpointManager

if TYPE_CHECKING:
    import jinja2

    from checkpointing.pipeline._run_model import RunInfo

__all__ = ["render_report", "write_report"]

_HERE = Path(__file__).resolve().parent
_NONE = "\N{EN DASH}"  # shown for a missing value


@cache
def environment() -> jinja2.Environment:
    """The Jinja2 environment of the report and dashboard templates (autoescaping on)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["seconds"] = seconds
    env.filters["size"] = size
    env.filters["when"] = when
    env.filters["clock"] = clock
    env.filters["tick"] = tick_text
    env.globals["statuses"] = STAGE_STATUSES
    return env


@cache
def assets() -> dict[str, str]:
    """The inline stylesheet and script, and the CSP that admits exactly them."""
    css = (_HERE / "templates" / "report.css").read_text(encoding="utf-8")
    js = (_HERE / "templates" / "report.js").read_text(encoding="utf-8")

    def digest(text: str) -> str:
        raw = hashlib.sha256(text.encode("utf-8")).digest()
        return "'sha256-" + base64.b64encode(raw).decode("ascii") + "'"

    csp = (
        f"default-src 'none'; style-src {digest(css)}; script-src {digest(js)}; "
        "img-src data:; base-uri 'none'; form-action 'self'"
    )
    return {"css": css, "js": js, "csp": csp}


def seconds(value: float | None) -> str:
    """A duration for people: ``16 ms``, ``12.3 s``, ``4 min 05 s``, ``2 h 03 min``."""
    if value is None:
        return _NONE
    if value < 1:
        return f"{value * 1000:.0f} ms" if value >= 0.001 else f"{value * 1e6:.0f} µs"
    if value < 60:
        return f"{value:.1f} s"
    minutes, secs = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def size(value: int | None) -> str:
    """A byte count for people: ``812 B``, ``14.2 KiB``, ``3.1 MiB``."""
    if value is None:
        return _NONE
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GiB"  # pragma: no cover - the loop returns


def when(stamp: str | None) -> str:
    """An ISO-8601 time as ``YYYY-MM-DD HH:MM:SS±HH:MM`` (kept in the run's own offset)."""
    if not stamp:
        return _NONE
    try:
        return datetime.fromisoformat(stamp).isoformat(sep=" ", timespec="seconds")
    except ValueError:
        return stamp


def clock(stamp: str | None) -> str:
    """The time of day of an ISO-8601 time, ``HH:MM:SS.mmm`` (the date is in the header)."""
    if not stamp:
        return _NONE
    try:
        return datetime.fromisoformat(stamp).strftime("%H:%M:%S.%f")[:-3]
    except ValueError:
        return stamp


def context(
    run: RunInfo,
    *,
    checkpoints: list[dict[str, Any]] | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """What the report template needs about ``run`` (also used by the dashboard's run page)."""
    now = time.time() if now is None else now
    quality = [
        {"attempt": a.number, "label": e.label, "metrics": metrics}
        for a in run.attempts
        for e in a.executions
        for metrics in e.quality
    ]
    errors = [
        {"attempt": a.number, "label": e.label, **(e.error or {})}
        for a in run.attempts
        for e in a.executions
        if e.status == "failed"
    ]
    last = run.last_attempt
    return {
        "run": run,
        "timelines": [(a, layout(a, now=now)) for a in run.attempts],
        "quality": quality,
        "errors": errors,
        "checkpoints": checkpoints or [],
        "config": last.config if last is not None else {},
        "generated": datetime.now().astimezone().isoformat(sep=" ", timespec="seconds"),
    }


def render_report(run: RunInfo, *, checkpoints: list[dict[str, Any]] | None = None) -> str:
    """The report of ``run`` as one self-contained HTML document.

    Args:
        run: The run (from :func:`checkpointing.get_run`).
        checkpoints: Registry entries of the run's checkpoints (``list_checkpoints`` output),
            for the checkpoint sizes.

    Returns:
        HTML that opens from disk in any browser and requests nothing from any network.
    """
    return (
        environment()
        .get_template("report.html.j2")
        .render(
            **context(run, checkpoints=checkpoints), assets=assets(), standalone=True, refresh=0
        )
    )


def write_report(
    pipeline_id: str,
    path: str | os.PathLike[str],
    *,
    checkpoint_dir: str | os.PathLike[str] | None = "data/checkpoints",
    log_dir: str | os.PathLike[str] | None = "logs",
) -> Path:
    """Write the report of a run to ``path`` (atomically: a reader never sees half of it).

    Args:
        pipeline_id: The run's id, or a unique prefix of it.
        path: The HTML file to write.
        checkpoint_dir: The run's checkpoint directory (``None``: events only).
        log_dir: Its log directory (``None``: the run record only).

    Returns:
        The path written.

    Raises:
        checkpointing.RunNotFoundError: No run has that id or prefix.
        checkpointing.AmbiguousIdError: The prefix matches several runs.
    """
    run = get_run(pipeline_id, checkpoint_dir=checkpoint_dir, log_dir=log_dir)
    checkpoints = (
        CheckpointManager(checkpoint_dir).list_checkpoints(run.pipeline_id)
        if checkpoint_dir is not None
        else []
    )
    html = render_report(run, checkpoints=checkpoints)
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(html, encoding="utf-8")
        temporary.replace(target)
    finally:
        temporary.unlink(missing_ok=True)
    return target
