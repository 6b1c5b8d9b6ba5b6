"""Frames that came from a checkpoint are fingerprinted by its stored SHA-256, until changed."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from checkpointing import Pipeline
from checkpointing.pipeline import _origins
from checkpointing.pipeline._fingerprint import FingerprintSpec, fingerprint
from checkpointing.pipeline._origins import stored_hash
from tests.pipeline._helpers import frame


@pytest.fixture(autouse=True)
def _copy_on_write():
    """Copy-on-write, which origins rely on: always on in pandas 3, an option in pandas 2
    (where a frame from a checkpoint is otherwise hashed in full, as docs/caching.md says)."""
    if _origins.copy_on_write():
        yield
        return
    with pd.option_context("mode.copy_on_write", True):
        yield


def _restored(tmp_path: Path) -> tuple[pd.DataFrame, str]:
    dirs: dict[str, Any] = {"checkpoint_dir": tmp_path / "ckpt", "log_dir": tmp_path / "logs"}
    p = Pipeline("etl", **dirs)
    with p, p.stage("extract", inputs={"n": 1}, cache=True) as s:
        s.checkpoint(frame(20))
    p = Pipeline("etl", **dirs)
    with p, p.stage("extract", inputs={"n": 1}, cache=True) as s:
        assert s.restored
    assert p.manager is not None
    return s.data, str(p.manager.get_state(str(s.restored_from))["data_hash"])


def test_a_restored_frame_is_represented_by_its_checkpoints_hash(tmp_path: Path) -> None:
    df, data_hash = _restored(tmp_path)
    assert stored_hash(df) == data_hash
    leaf = fingerprint(FingerprintSpec(inputs=[df]), stage="s", key=None).document["inputs"]["0"]
    assert leaf["content"] == f"checkpoint:{data_hash}"
    assert stored_hash(df.copy()) is None  # a copy is another object: hashed in full


def test_a_frame_passed_to_checkpoint_is_represented_by_that_checkpoint(tmp_path: Path) -> None:
    p = Pipeline("etl", checkpoint_dir=tmp_path / "c", log_dir=tmp_path / "l")
    table = pa.table({"a": [1, 2]})
    with p, p.stage("extract") as s:
        df = frame(5)
        first, second = s.checkpoint(df), s.checkpoint(table)
    assert p.manager is not None
    assert stored_hash(df) == p.manager.get_state(str(first))["data_hash"]
    assert stored_hash(table) == p.manager.get_state(str(second))["data_hash"]


CHANGES = {
    "cell written with loc": lambda df: df.loc.__setitem__((0, "close"), -1.0),
    "cell written with iloc": lambda df: df.iloc.__setitem__((1, 2), 7),
    "cells written through a mask": lambda df: df.loc.__setitem__((df["volume"] > 0, "volume"), 0),
    "string cell written": lambda df: df.loc.__setitem__((0, "ticker"), "IBM"),
    "column replaced": lambda df: df.__setitem__("close", df["close"] * 2),
    "column added": lambda df: df.__setitem__("extra", 1),
    "column dropped": lambda df: df.__delitem__("volume"),
    "index replaced": lambda df: setattr(df, "index", pd.RangeIndex(1, len(df) + 1)),
    "index renamed": lambda df: setattr(df.index, "name", "row"),
    "columns renamed": lambda df: setattr(df, "columns", ["a", "b", "c"]),
    "attrs changed": lambda df: df.attrs.__setitem__("source", "x"),
    "fillna in place": lambda df: df.fillna({"close": 0.0}, inplace=True),
}


@pytest.mark.parametrize("change", CHANGES, ids=list(CHANGES))
def test_a_restored_frame_changed_in_place_is_hashed_in_full(tmp_path: Path, change: str) -> None:
    df, _ = _restored(tmp_path)
    before = fingerprint(FingerprintSpec(inputs=[df.copy()]), stage="s", key=None).sha256
    CHANGES[change](df)
    assert stored_hash(df) is None
    after = fingerprint(FingerprintSpec(inputs=[df]), stage="s", key=None)
    assert after.document["inputs"]["0"]["content"].startswith("sha256:")
    if change != "fillna in place":  # the frame has no missing close: nothing changes
        assert after.sha256 != before


def test_the_map_forgets_frames_that_are_gone(tmp_path: Path) -> None:
    df, _ = _restored(tmp_path)
    key = id(df)
    assert key in _origins._origins
    del df
    gc.collect()
    assert key not in _origins._origins
