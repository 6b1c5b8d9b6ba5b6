"""The timeline of one attempt, laid out for an inline SVG Gantt chart drawn on the server.

One row per stage execution; executions of a stage name that ran more than once (fan-out
items told apart by ``key=``, or repeated executions) are grouped under a header row for the
stage. The spans of an execution (``s.span()``) follow it, one row each, indented by depth.
Every position is computed here, so the template only writes numbers and escaped text, and the
chart shows without JavaScript.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from checkpointing.pipeline._run_model import Attempt, StageExecution

__all__: list[str] = []

LABEL_WIDTH = 230
CHART_WIDTH = 740
ROW_HEIGHT = 18
AXIS_HEIGHT = 22
MIN_BAR = 2.0


@dataclass(frozen=True)
class Bar:
    """One row of the chart: a stage execution (``execution`` set), one of its spans (``span``
    set too) or a group header."""

    y: float
    label: str
    indent: bool
    execution: StageExecution | None
    x: float | None = None
    width: float | None = None
    index: int = 0
    span: dict[str, Any] | None = None
    depth: int = 0


@dataclass(frozen=True)
class Timeline:
    """An attempt's chart: rows, axis ticks ``(x, text)`` and the SVG's size."""

    rows: tuple[Bar, ...]
    ticks: tuple[tuple[float, str], ...]
    width: int
    height: int
    label_width: int


def _epoch(stamp: str | None) -> float | None:
    if stamp is None:
        return None
    try:
        return datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return None


def _span(execution: StageExecution) -> tuple[float, float] | None:
    start = _epoch(execution.started_at)
    if start is None:
        return None
    if execution.duration_seconds is not None:
        return start, start + max(execution.duration_seconds, 0.0)
    end = _epoch(execution.finished_at)
    return start, end if end is not None and end >= start else start


def _tick_step(span: float) -> float:
    """A round step in seconds (1, 2 or 5 times a power of ten): about six ticks over ``span``."""
    raw = span / 6 if span > 0 else 1.0
    power: float = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def tick_text(seconds: float) -> str:
    """An axis label: ``0``, ``250 ms``, ``1.5 s``, ``2 min``, ``1.5 h``."""
    if seconds == 0:
        return "0"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:g} s"
    if seconds < 7200:
        return f"{seconds / 60:g} min"
    return f"{seconds / 3600:g} h"


def _grouped(executions: tuple[StageExecution, ...]) -> list[list[StageExecution]]:
    """Executions by stage name, in order of the name's first execution."""
    groups: dict[str, list[StageExecution]] = {}
    for execution in executions:
        groups.setdefault(execution.stage, []).append(execution)
    return list(groups.values())


def layout(attempt: Attempt, *, now: float | None = None) -> Timeline:
    """Lay out ``attempt``'s executions; ``now`` ends the bars of running executions."""
    spans = {id(e): _span(e) for e in attempt.executions}
    known = [s for s in spans.values() if s is not None]
    origin = min((s[0] for s in known), default=_epoch(attempt.started_at) or 0.0)
    end = max((s[1] for s in known), default=origin)
    if now is not None and any(e.status == "running" for e in attempt.executions):
        end = max(end, now)
    step = _tick_step(end - origin)
    total = max(step * math.ceil((end - origin) / step), step)
    scale = CHART_WIDTH / total
    rows: list[Bar] = []
    y = float(AXIS_HEIGHT)
    index = 0
    for group in _grouped(attempt.executions):
        grouped = len(group) > 1
        if grouped:
            rows.append(Bar(y=y, label=f"{group[0].stage} ({len(group)})", indent=False,
                            execution=None))  # fmt: skip
            y += ROW_HEIGHT
        for execution in group:
            span = spans[id(execution)]
            x = width = None
            if span is not None:
                finish = now if execution.status == "running" and now is not None else span[1]
                x = LABEL_WIDTH + (span[0] - origin) * scale
                width = max((finish - span[0]) * scale, MIN_BAR)
            label = execution.label if not grouped else (
                execution.key if execution.key is not None else f"#{execution.occurrence}"
            )  # fmt: skip
            rows.append(Bar(y=y, label=label, indent=grouped or execution.parent is not None,
                            execution=execution, x=x, width=width, index=index))  # fmt: skip
            y += ROW_HEIGHT
            start = None if span is None else LABEL_WIDTH + (span[0] - origin) * scale
            for record, depth in _span_depths(execution.spans):
                rows.append(_span_bar(execution, record, depth=depth, y=y, start=start,
                                      scale=scale, index=index))  # fmt: skip
                y += ROW_HEIGHT
            index += 1
    ticks = tuple(
        (LABEL_WIDTH + i * step * scale, tick_text(i * step))
        for i in range(round(total / step) + 1)
    )
    return Timeline(
        rows=tuple(rows),
        ticks=ticks,
        width=LABEL_WIDTH + CHART_WIDTH + 20,
        height=int(y) + 4,
        label_width=LABEL_WIDTH,
    )


def _span_depths(spans: tuple[dict[str, Any], ...]) -> list[tuple[dict[str, Any], int]]:
    """Each span with its depth (1 for a span of the stage, 2 inside another span, ...)."""
    depths: dict[int, int] = {}
    found = []
    for record in spans:
        parent = record.get("parent")
        depth = depths.get(parent, 0) + 1 if isinstance(parent, int) else 1
        if isinstance(record.get("index"), int):
            depths[record["index"]] = depth
        found.append((record, depth))
    return found


def _span_bar(
    execution: StageExecution,
    record: dict[str, Any],
    *,
    depth: int,
    y: float,
    start: float | None,
    scale: float,
    index: int,
) -> Bar:
    """The row of one span, placed from the start of its stage execution."""
    x = width = None
    duration = record.get("duration_seconds")
    if start is not None:
        x = start + max(float(record.get("start_seconds") or 0.0), 0.0) * scale
        width = max((duration or 0.0) * scale, MIN_BAR)
    return Bar(y=y, label=record["name"], indent=True, execution=execution, x=x, width=width,
               index=index, span=record, depth=depth)  # fmt: skip
