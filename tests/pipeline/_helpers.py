"""Helpers shared by the pipeline tests (also imported by their child processes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def frame(rows: int = 50, seed: int = 0) -> pd.DataFrame:
    """A small OHLCV-like frame."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "ticker": pd.array(["AAPL", "MSFT"] * (rows // 2) + ["AAPL"] * (rows % 2)),
            "close": rng.random(rows) * 100,
            "volume": rng.integers(0, 1_000_000, rows),
        }
    )


def read_lines(path: Path) -> list[dict[str, Any]]:
    """Every JSON line of ``path`` and of its rotated siblings (strict JSON)."""
    records: list[dict[str, Any]] = []
    for file in sorted(path.parent.glob(path.name + "*")):
        for line in file.read_text(encoding="utf-8").splitlines():
            records.append(json.loads(line))
    return records


def events(log_dir: Path, pipeline_id: str | None = None) -> list[dict[str, Any]]:
    """The events of ``log_dir`` (optionally of one run), in file order."""
    found = read_lines(Path(log_dir) / "events" / "events.log")
    if pipeline_id is not None:
        found = [e for e in found if e.get("pipeline_id") == pipeline_id]
    return found


def event_types(log_dir: Path, pipeline_id: str | None = None) -> list[tuple[str, str | None]]:
    """``(event_type, stage)`` of each event, in order."""
    return [(e["event_type"], e.get("stage")) for e in events(log_dir, pipeline_id)]


def record_of(pipeline: Any) -> dict[str, Any]:
    """The run record of ``pipeline`` (which must have one)."""
    record = pipeline.record
    assert record is not None
    return dict(record)
