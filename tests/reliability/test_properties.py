"""Property-based tests: hostile names, symlinks, generated DataFrames, awkward metadata and log
values. Bounded and reproducible (derandomized) so CI runs the same examples every time."""

from __future__ import annotations

import datetime as dt
import decimal
import io
import itertools
import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import checkpointing.store._manager as manager_module
from checkpointing import CheckpointManager, InvalidNameError, Pipeline
from checkpointing.store._layout import LOCK, MARKER
from checkpointing.store._shards import INDEX, shard_name
from logging_ext import JsonFormatter, PipelineLogger
from tests._json import loads_strict
from tests.reliability.conftest import strict_json_lines

BOUNDED = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FRAME = pd.DataFrame({"x": [1, 2, 3]})
_counter = itertools.count()

TRICKY_NAMES = [
    "",
    ".",
    "..",
    "../x",
    "x/../y",
    "a/b",
    "a\\b",
    "/abs",
    "~",
    "-rf",
    " x",
    "x ",
    "x\x00y",
    "x\ny",
    "x\u200by",
    "\u202e",
    "con",
    "NUL",
    "ÿ" * 300,
    "é",
    "日本語",
    "a" * 200,
    ".hidden",
    "x..y",
    "x.",
    "%2e%2e",
    "${HOME}",
    "*",
    "?",
    "|",
    ":",
]
NAMES = st.one_of(
    st.sampled_from(TRICKY_NAMES),
    st.text(max_size=40),
    st.text(alphabet="./\\\x00\x7f -_é\u200b\n", max_size=12),
)


def _json_logger(name: str) -> tuple[logging.Logger, io.StringIO]:
    """A logger that writes JSON lines through JsonFormatter into the returned buffer only."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger(name)
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)
    return log, stream


def fresh(tmp_path: Path) -> Path:
    """A new empty directory per hypothesis example."""
    path = tmp_path / f"ex{next(_counter)}"
    path.mkdir()
    return path


def files_under(root: Path) -> set[Path]:
    return {Path(d, f) for d, _, fs in os.walk(root) for f in fs} | {
        Path(d, s) for d, ss, _ in os.walk(root) for s in ss
    }


# -- names ----------------------------------------------------------------------------------


@BOUNDED
@given(pipeline_id=NAMES, stage=NAMES)
def test_names_never_write_outside_the_checkpoint_dir(tmp_path, pipeline_id, stage):
    outer = fresh(tmp_path)
    directory = outer / "ckpt"
    manager = CheckpointManager(directory)
    try:
        cid = manager.save_checkpoint(pipeline_id, stage, FRAME)
    except InvalidNameError:
        assert files_under(outer) == set(), "a rejected name wrote something"
        return
    for path in files_under(outer):
        assert path.resolve().is_relative_to(directory.resolve()), path
    assert manager.list_checkpoints()[0]["checkpoint_id"] == cid
    pd.testing.assert_frame_equal(manager.load_checkpoint(cid)["data"], FRAME)


@settings(BOUNDED, max_examples=30)
@given(name=NAMES, stage=NAMES)
def test_pipeline_and_stage_names_never_write_outside_their_directories(tmp_path, name, stage):
    outer = fresh(tmp_path)
    allowed = [(outer / "ckpt").resolve(), (outer / "logs").resolve()]
    try:
        pipeline = Pipeline(name, checkpoint_dir=outer / "ckpt", log_dir=outer / "logs")
        with pipeline, pipeline.stage(stage) as s:
            s.checkpoint(FRAME)
    except InvalidNameError:
        pass
    for path in files_under(outer):
        resolved = path.resolve()
        assert any(resolved.is_relative_to(a) for a in allowed), path


# -- symlinks -------------------------------------------------------------------------------

FIXED_ID = "etl_load_20260101T000000000000Z_00000000"
TEMP_SUFFIX = "0101010101010101"


@pytest.mark.parametrize(
    "planted",
    [
        MARKER,
        INDEX,
        shard_name("etl"),
        LOCK,
        f"{FIXED_ID}.parquet",
        f"{FIXED_ID}.json",
        f".tmp-{FIXED_ID}.parquet-{TEMP_SUFFIX}",
        f".tmp-{FIXED_ID}.json-{TEMP_SUFFIX}",
    ],
)
def test_symlinks_where_files_will_go_are_not_followed(tmp_path, monkeypatch, planted):
    directory = tmp_path / "ckpt"
    manager = CheckpointManager(directory)
    manager.save_checkpoint("etl", "first", FRAME)  # the registry files exist from here on
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"precious")
    link = directory / planted
    link.unlink(missing_ok=True)
    link.symlink_to(outside)
    # Make the next checkpoint's id and temporary names predictable, to plant links at them.
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    monkeypatch.setattr(manager_module, "new_checkpoint_id", lambda p, s: (FIXED_ID, when))
    monkeypatch.setattr(os, "urandom", lambda n: b"\x01" * n)
    try:
        manager.save_checkpoint("etl", "load", FRAME)
    except OSError as exc:
        # Files opened in place (temporary files, the lock) refuse a symlink: O_NOFOLLOW; the
        # manifest, the commit point, is created only where nothing exists yet.
        assert planted.startswith(".tmp-") or planted == LOCK or planted == FIXED_ID + ".json", exc
    assert outside.read_bytes() == b"precious", "a symlink was followed"
    monkeypatch.undo()
    if planted == LOCK:
        # filelock refuses a symlinked lock file; the error names it until someone removes it.
        with pytest.raises(OSError, match="symbolic links"):
            manager.save_checkpoint("etl", "again", FRAME)
        assert manager.list_checkpoints()  # reading takes no lock
        link.unlink()
    for entry in manager.list_checkpoints():
        manager.verify_checkpoint(entry["checkpoint_id"])
    assert outside.read_bytes() == b"precious", "a symlink was followed"


# -- data -----------------------------------------------------------------------------------

FINITE_OR_NOT = st.floats(allow_nan=True, allow_infinity=True)
TEXT = st.text(max_size=8)
STAMPS = st.datetimes(min_value=dt.datetime(1700, 1, 1), max_value=dt.datetime(2200, 1, 1))


def _column(kind: str, n: int) -> Any:
    lists = {
        "int64": st.lists(st.integers(-(2**63), 2**63 - 1), min_size=n, max_size=n),
        "float64": st.lists(FINITE_OR_NOT, min_size=n, max_size=n),
        "float32": st.lists(st.floats(width=32), min_size=n, max_size=n),
        "bool": st.lists(st.booleans(), min_size=n, max_size=n),
        "Int64": st.lists(st.none() | st.integers(-(2**63), 2**63 - 1), min_size=n, max_size=n),
        "boolean": st.lists(st.none() | st.booleans(), min_size=n, max_size=n),
        "str": st.lists(TEXT, min_size=n, max_size=n),
        "str_na": st.lists(st.none() | TEXT, min_size=n, max_size=n),
        "category": st.lists(st.sampled_from(["a", "é", "日"]), min_size=n, max_size=n),
        "datetime64[ns]": st.lists(st.none() | STAMPS, min_size=n, max_size=n),
        "datetime_tz": st.lists(st.none() | STAMPS, min_size=n, max_size=n),
        "timedelta64[ns]": st.lists(
            st.none()
            | st.timedeltas(min_value=dt.timedelta(days=-9999), max_value=dt.timedelta(days=9999)),
            min_size=n,
            max_size=n,
        ),
    }
    build = {
        "int64": lambda v: pd.Series(v, dtype="int64"),
        "float64": lambda v: pd.Series(v, dtype="float64"),
        "float32": lambda v: pd.Series(v, dtype="float32"),
        "bool": lambda v: pd.Series(v, dtype="bool"),
        "Int64": lambda v: pd.Series(v, dtype="Int64"),
        "boolean": lambda v: pd.Series(v, dtype="boolean"),
        "str": lambda v: pd.Series(v, dtype="str"),
        "str_na": lambda v: pd.Series(v, dtype="str"),
        "category": lambda v: pd.Series(v, dtype="category"),
        "datetime64[ns]": lambda v: pd.Series(pd.to_datetime(v), dtype="datetime64[ns]"),
        "datetime_tz": lambda v: pd.Series(
            pd.to_datetime(v), dtype="datetime64[ns]"
        ).dt.tz_localize("Europe/Paris", ambiguous="NaT", nonexistent="NaT"),
        "timedelta64[ns]": lambda v: pd.Series(pd.to_timedelta(v), dtype="timedelta64[ns]"),
    }
    return lists[kind].map(build[kind])


KINDS = [
    "int64",
    "float64",
    "float32",
    "bool",
    "Int64",
    "boolean",
    "str",
    "str_na",
    "category",
    "datetime64[ns]",
    "datetime_tz",
    "timedelta64[ns]",
]


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(0, 12))
    kinds = draw(st.lists(st.sampled_from(KINDS), max_size=5))
    names = draw(
        st.lists(st.text(max_size=6), min_size=len(kinds), max_size=len(kinds), unique=True)
    )
    columns = {
        name: draw(_column(kind, n)).reset_index(drop=True)
        for name, kind in zip(names, kinds, strict=True)
    }
    frame = pd.DataFrame(columns, index=pd.RangeIndex(n))
    index_kind = draw(st.sampled_from(["range", "shifted", "int", "str", "datetime"]))
    if index_kind == "shifted":
        frame.index = pd.RangeIndex(5, 5 + 2 * n, 2)
    elif index_kind == "int":
        frame.index = pd.Index(
            draw(st.lists(st.integers(-9, 9), min_size=n, max_size=n)), dtype="int64", name="k"
        )
    elif index_kind == "str":
        frame.index = pd.Index(draw(st.lists(TEXT, min_size=n, max_size=n)), dtype="str", name="名")
    elif index_kind == "datetime":
        frame.index = pd.date_range("2026-01-01", periods=n, freq="h", tz="UTC", name="t")
    return frame


@BOUNDED
@given(frame=frames())
def test_generated_frames_round_trip_exactly_or_raise_type_error(tmp_path, frame):
    directory = fresh(tmp_path)
    manager = CheckpointManager(directory)
    try:
        cid = manager.save_checkpoint("etl", "gen", frame)
    except TypeError:
        assert not list(directory.glob("*.parquet")), "a rejected frame was written"
        return
    loaded = manager.load_checkpoint(cid)["data"]
    pd.testing.assert_frame_equal(loaded, frame, check_exact=True, check_freq=True)
    assert list(loaded.columns) == list(frame.columns)
    assert loaded.dtypes.to_dict() == frame.dtypes.to_dict()


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({0: [1], "a": [2]}),
        pd.DataFrame({1.5: [1]}),
        pd.DataFrame({("a", "b"): [1]}),
        pd.DataFrame([[1, 2]], columns=["a", "a"]),
        pd.DataFrame({"mixed": pd.Series([1, "a"], dtype=object)}),
        pd.DataFrame({"mixed": pd.Series([b"x", "a"], dtype=object)}),
        pd.DataFrame({"obj": pd.Series([object()], dtype=object)}),
        pd.DataFrame({"dec": pd.Series([decimal.Decimal("1.1"), 2], dtype=object)}),
    ],
    ids=[
        "int name",
        "float name",
        "tuple name",
        "duplicate names",
        "int and str",
        "bytes and str",
        "object",
        "decimal and int",
    ],
)
def test_what_parquet_cannot_hold_is_a_clear_type_error_and_nothing_is_written(tmp_path, frame):
    manager = CheckpointManager(tmp_path / "ckpt")
    with pytest.raises(TypeError) as info:
        manager.save_checkpoint("etl", "bad", frame)
    assert "column" in str(info.value) or "Parquet" in str(info.value)
    assert not (tmp_path / "ckpt").exists() or not list((tmp_path / "ckpt").glob("*.parquet"))


# -- metadata and log values ----------------------------------------------------------------


class Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("repr fails")

    __str__ = __repr__


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # beyond 64 bits too
    FINITE_OR_NOT,
    st.text(),
    st.binary(max_size=8),
    st.datetimes(timezones=st.just(dt.UTC) | st.none()),
    st.dates(),
    st.timedeltas(),
    st.decimals(allow_nan=True),
    st.uuids(),
    st.sampled_from(
        [
            np.float64("nan"),
            np.int64(7),
            np.float32(1.5),
            np.bool_(True),
            pd.NaT,
            pd.Timestamp("2026-01-01", tz="UTC"),
            np.datetime64("NaT", "ns"),  # a generic-unit NaT is deprecated in numpy 2.5
            pd.NA,
            Path("/x"),
            object(),
            np.arange(3),
            complex(1, 2),
            math.pi,
            frozenset({1, "a"}),
        ]
    ),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=12,
)


@BOUNDED
@given(metadata=st.dictionaries(st.text(max_size=8), VALUES, max_size=4))
def test_awkward_metadata_is_stored_as_strict_json_or_a_clear_type_error(tmp_path, metadata):
    directory = fresh(tmp_path)
    manager = CheckpointManager(directory)
    try:
        cid = manager.save_checkpoint("etl", "meta", FRAME, metadata)
    except TypeError:
        assert not list(directory.glob("*.json")), "rejected metadata left a manifest"
        return
    text = (directory / f"{cid}.json").read_text()
    state = loads_strict(text)
    assert state == manager.load_checkpoint(cid)["state"]


@BOUNDED
@given(
    extra=st.dictionaries(
        st.text(min_size=1, max_size=8).filter(
            lambda k: (
                k not in logging.makeLogRecord({}).__dict__ and k not in {"message", "asctime"}
            )
        ),
        VALUES,
        max_size=4,
    ),
    message=VALUES,
)
def test_awkward_log_values_never_crash_and_stay_strict_json(extra, message):
    log, stream = _json_logger("reliability.properties")
    log.info(message, extra=extra)
    log.info("%s and %r", message, message)
    log.error("failed", exc_info=ValueError(message if isinstance(message, str) else "x"))
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 3  # plus any "--- Logging error ---" report goes to stderr, not here
    for line in lines:
        assert isinstance(loads_strict(line), dict)


@settings(BOUNDED, max_examples=40)
@given(metadata=st.dictionaries(st.text(max_size=8), VALUES, max_size=4))
def test_awkward_event_metadata_never_crashes_and_stays_strict_json(tmp_path, metadata):
    log_dir = fresh(tmp_path)
    with PipelineLogger(log_dir, configure_root=False) as plog:
        plog.log_event("data_quality_check", "etl", "s", "info", metadata)
    events = strict_json_lines(log_dir / "events" / "events.log")
    assert [e["event_type"] for e in events] == ["data_quality_check"]
    assert isinstance(events[0]["metadata"], dict)


def test_values_whose_repr_fails_never_crash_logging_or_saving(tmp_path, capsys):
    log, stream = _json_logger("reliability.unprintable")
    log.warning(Unprintable(), extra={"value": Unprintable(), "nested": {"v": [Unprintable()]}})
    log.warning("%s", Unprintable())
    for line in stream.getvalue().splitlines():
        assert isinstance(loads_strict(line), dict)
    with PipelineLogger(tmp_path / "logs", configure_root=False) as plog:
        plog.log_event("odd", "etl", "s", "info", {"value": Unprintable()})
    assert len(strict_json_lines(tmp_path / "logs" / "events" / "events.log")) == 1
    manager = CheckpointManager(tmp_path / "ckpt")
    with pytest.raises(TypeError):
        manager.save_checkpoint("etl", "s", FRAME, {"value": Unprintable()})
