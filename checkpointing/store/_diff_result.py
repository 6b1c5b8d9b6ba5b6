"""The result of a diff: per-column changes (:class:`ColumnDiff`) and the whole
(:class:`CheckpointDiff`), as JSON-able dicts and as the text table the CLI prints."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = ["CheckpointDiff", "ColumnDiff"]

_STATS = ("mean", "min", "max", "std")


def _jsonable(value: object) -> Any:
    """A JSON-safe version of one cell or statistic (NaN/NaT become ``None``)."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return value if math.isfinite(value) else str(value)
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, pd.Timestamp | pd.Timedelta):
        return value.isoformat()
    return None if _is_missing(value) else str(value)


def _is_missing(value: object) -> bool:
    try:
        return bool(pd.isna(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True, slots=True)
class ColumnDiff:
    """How one column differs between frame A and frame B.

    Attributes:
        name: The column name (as text).
        dtype_a: Its dtype in A, or ``None`` if A lacks the column.
        dtype_b: Its dtype in B, or ``None`` if B lacks the column.
        nulls_a: Missing values in A (``None`` if absent).
        nulls_b: Missing values in B (``None`` if absent).
        stats_a: Summary of A's values: ``mean``/``min``/``max``/``std`` for numeric and boolean
            columns, ``min``/``max`` (ISO text) for datetimes, empty otherwise. JSON-safe.
        stats_b: The same for B.
        changed_rows: Rows present in both (matched by index) whose value differs, two missing
            values counting as equal; ``None`` if the column is not in both frames.
    """

    name: str
    dtype_a: str | None
    dtype_b: str | None
    nulls_a: int | None
    nulls_b: int | None
    stats_a: dict[str, Any] = field(default_factory=dict)
    stats_b: dict[str, Any] = field(default_factory=dict)
    changed_rows: int | None = None

    @property
    def status(self) -> Literal["added", "removed", "dtype changed", "changed", "same"]:
        """``added``, ``removed``, ``dtype changed``, ``changed`` (values or nulls) or ``same``."""
        if self.dtype_a is None:
            return "added"
        if self.dtype_b is None:
            return "removed"
        if self.dtype_a != self.dtype_b:
            return "dtype changed"
        if self.changed_rows or self.nulls_a != self.nulls_b:
            return "changed"
        return "same"

    @property
    def deltas(self) -> dict[str, float]:
        """``B - A`` of each numeric statistic both sides have (mean, min, max, std)."""
        out: dict[str, float] = {}
        for key in _STATS:
            a, b = self.stats_a.get(key), self.stats_b.get(key)
            if isinstance(a, int | float) and isinstance(b, int | float):
                out[key] = b - a
        return out

    def to_dict(self) -> dict[str, Any]:
        """This column's comparison as plain JSON-safe data (includes ``status`` and ``deltas``)."""
        return {
            "name": self.name,
            "status": self.status,
            "dtype_a": self.dtype_a,
            "dtype_b": self.dtype_b,
            "nulls_a": self.nulls_a,
            "nulls_b": self.nulls_b,
            "stats_a": dict(self.stats_a),
            "stats_b": dict(self.stats_b),
            "deltas": {k: _jsonable(v) for k, v in self.deltas.items()},
            "changed_rows": self.changed_rows,
        }


@dataclass(frozen=True, slots=True)
class CheckpointDiff:
    """The differences between checkpoints (or frames) A and B; see :func:`diff_checkpoints`.

    Rows are matched by index label when both indexes are unique, otherwise by position
    (``matched_by`` says which). Values compare exactly; two missing values are equal.

    Attributes:
        id_a: Checkpoint id (or label) of A.
        id_b: Checkpoint id (or label) of B.
        info_a: What is known of A besides its data (``pipeline_id``, ``stage``, ``timestamp``
            for checkpoints); JSON-safe.
        info_b: The same for B.
        rows_a: Row count of A.
        rows_b: Row count of B.
        columns: One :class:`ColumnDiff` per column of A (in A's order), then per column only B has.
        matched_by: ``"index"`` or ``"position"``.
        rows_in_both: Rows matched in both frames.
        rows_only_in_a: Rows of A with no match in B.
        rows_only_in_b: Rows of B with no match in A.
        rows_changed: Matched rows where at least one shared column differs.
        only_in_a_examples: The first few index labels only in A (JSON-safe).
        only_in_b_examples: The first few index labels only in B.
        changed_examples: The first few changed rows: ``{"index": label, "changes": {column:
            [value_a, value_b]}}`` (JSON-safe).
    """

    id_a: str
    id_b: str
    info_a: dict[str, Any]
    info_b: dict[str, Any]
    rows_a: int
    rows_b: int
    columns: tuple[ColumnDiff, ...]
    matched_by: Literal["index", "position"]
    rows_in_both: int
    rows_only_in_a: int
    rows_only_in_b: int
    rows_changed: int
    only_in_a_examples: tuple[Any, ...] = ()
    only_in_b_examples: tuple[Any, ...] = ()
    changed_examples: tuple[dict[str, Any], ...] = ()

    @property
    def columns_added(self) -> list[str]:
        """Columns B has and A lacks."""
        return [c.name for c in self.columns if c.status == "added"]

    @property
    def columns_removed(self) -> list[str]:
        """Columns A has and B lacks."""
        return [c.name for c in self.columns if c.status == "removed"]

    @property
    def dtype_changes(self) -> dict[str, tuple[str, str]]:
        """``{column: (dtype in A, dtype in B)}`` for shared columns whose dtype differs."""
        return {
            c.name: (c.dtype_a, c.dtype_b)
            for c in self.columns
            if c.dtype_a is not None and c.dtype_b is not None and c.dtype_a != c.dtype_b
        }

    @property
    def identical(self) -> bool:
        """True when schema, row sets and every value are the same."""
        return (
            all(c.status == "same" for c in self.columns)
            and not (self.rows_only_in_a or self.rows_only_in_b or self.rows_changed)
            and self.rows_a == self.rows_b
        )

    def to_dict(self) -> dict[str, Any]:
        """The whole comparison as plain data that ``json.dumps`` accepts (no NaN, no numpy)."""
        return {
            "a": {"id": self.id_a, **self.info_a, "rows": self.rows_a},
            "b": {"id": self.id_b, **self.info_b, "rows": self.rows_b},
            "identical": self.identical,
            "rows": {
                "a": self.rows_a,
                "b": self.rows_b,
                "delta": self.rows_b - self.rows_a,
                "matched_by": self.matched_by,
                "in_both": self.rows_in_both,
                "only_in_a": self.rows_only_in_a,
                "only_in_b": self.rows_only_in_b,
                "changed": self.rows_changed,
                "only_in_a_examples": list(self.only_in_a_examples),
                "only_in_b_examples": list(self.only_in_b_examples),
                "changed_examples": [dict(e) for e in self.changed_examples],
            },
            "columns_added": self.columns_added,
            "columns_removed": self.columns_removed,
            "dtype_changes": {k: list(v) for k, v in self.dtype_changes.items()},
            "columns": [c.to_dict() for c in self.columns],
        }

    def format(self) -> str:
        """A human-readable report: a header per side, schema changes, a per-column table, rows."""
        lines = []
        for side, cid, info, rows, ncols in (
            (
                "A",
                self.id_a,
                self.info_a,
                self.rows_a,
                sum(c.dtype_a is not None for c in self.columns),
            ),
            (
                "B",
                self.id_b,
                self.info_b,
                self.rows_b,
                sum(c.dtype_b is not None for c in self.columns),
            ),
        ):
            where = "  ".join(
                f"{label} {info[key]}"
                for key, label in (("stage", "stage"), ("pipeline_id", "pipeline"))
                if info.get(key) is not None
            )
            parts = [side, cid, where, f"({rows:,} rows x {ncols} columns)"]
            lines.append("  ".join(p for p in parts if p))
        lines.append("")
        lines.append(
            f"rows             {self.rows_a:,} -> {self.rows_b:,} ({self.rows_b - self.rows_a:+,})"
        )
        added, removed = self.columns_added, self.columns_removed
        lines.append(f"columns added    {', '.join(added) if added else 'none'}")
        lines.append(f"columns removed  {', '.join(removed) if removed else 'none'}")
        changes = self.dtype_changes
        lines.append(
            "dtype changes    "
            + (", ".join(f"{k} {a} -> {b}" for k, (a, b) in changes.items()) if changes else "none")
        )
        lines.append("")
        lines.extend(_table(self.columns))
        lines.append("")
        lines.append(
            f"rows matched by {self.matched_by}: {self.rows_in_both:,} in both, "
            f"{self.rows_only_in_a:,} only in A, {self.rows_only_in_b:,} only in B, "
            f"{self.rows_changed:,} changed"
        )
        if self.only_in_a_examples:
            lines.append(f"  only in A: {', '.join(map(str, self.only_in_a_examples))}")
        if self.only_in_b_examples:
            lines.append(f"  only in B: {', '.join(map(str, self.only_in_b_examples))}")
        for example in self.changed_examples:
            cells = "; ".join(
                f"{col} {_short(a)} -> {_short(b)}" for col, (a, b) in example["changes"].items()
            )
            lines.append(f"  index {example['index']}: {cells}")
        if self.identical:
            lines.append("identical: same columns, dtypes, rows and values")
        return "\n".join(lines)


def _short(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _table(columns: tuple[ColumnDiff, ...]) -> list[str]:
    header: tuple[str, ...] = ("column", "status", "dtype A", "dtype B", "nulls A", "nulls B")
    header = (*header, *(f"{k} delta" for k in _STATS), "changed rows")
    rows = [header]
    for c in columns:
        deltas = c.deltas
        rows.append(
            (
                c.name,
                c.status,
                c.dtype_a or "-",
                c.dtype_b or "-",
                "-" if c.nulls_a is None else f"{c.nulls_a:,}",
                "-" if c.nulls_b is None else f"{c.nulls_b:,}",
                *(f"{deltas[k]:+.6g}" if k in deltas else "-" for k in _STATS),
                "-" if c.changed_rows is None else f"{c.changed_rows:,}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    text_columns = 4  # name, status and dtypes are left-aligned, figures right-aligned
    return [
        "  ".join(
            cell.ljust(w) if i < text_columns else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
