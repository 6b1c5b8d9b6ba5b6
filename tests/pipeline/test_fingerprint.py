"""Fingerprints of inputs: every change that can change a result is a miss, nothing else is.

Frames are hashed by schema and content; these tests pin the traps of ``hash_pandas_object``
(a rename, int64 -> int32, int -> bool, str -> category all hash alike there) and check that the
hashes do not depend on the process, the block layout or the chunking.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkpointing import FingerprintError
from checkpointing.pipeline._fingerprint import FingerprintSpec, explain, fingerprint

ROOT = Path(__file__).resolve().parents[2]


def fp(inputs, **options):
    return fingerprint(FingerprintSpec(inputs=inputs, **options), stage="s", key=None)


def sample() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ticker": pd.Series(["AAPL", "MSFT", None, "IBM"], dtype="str"),
            "close": [1.5, float("nan"), 3.25, -0.5],
            "volume": np.array([10, 20, 30, 40], dtype="int64"),
            "day": pd.date_range("2024-01-01", periods=4, tz="Europe/Paris"),
            "n": pd.array([1, None, 3, 4], dtype="Int64"),
            "side": pd.Categorical(["buy", "sell", "buy", "buy"]),
            "note": pd.Series(["a", None, "c", float("nan")], dtype=object),
        },
        index=pd.Index([10, 11, 12, 13], name="row"),
    )


def rebuilt(df: pd.DataFrame) -> pd.DataFrame:
    """An equal frame built another way: column by column, fresh memory, other block layout."""
    out = pd.DataFrame(index=df.index.copy())
    for name in df.columns:
        out[name] = df[name].copy()
    return out


# -- what must be a miss ------------------------------------------------------------------------


def _changed_value(df):
    df = df.copy()
    df.loc[11, "volume"] = 21
    return df


MISSES = {
    "changed value": (_changed_value, "frame 0 values"),
    "renamed column": (lambda df: df.rename(columns={"close": "price"}), "frame 0 schema"),
    "reordered columns": (lambda df: df[list(reversed(df.columns))], "frame 0 schema"),
    "int64 -> int32, equal values": (
        lambda df: df.astype({"volume": "int32"}),
        "frame 0 schema",
    ),
    "int -> bool": (lambda df: df.assign(volume=df["volume"] > 0), "frame 0 schema"),
    "str -> category": (lambda df: df.astype({"ticker": "category"}), "frame 0 schema"),
    "category set changed": (
        lambda df: df.assign(side=df["side"].cat.add_categories(["hold"])),
        "frame 0 schema",
    ),
    "changed index values": (
        lambda df: df.set_axis(pd.Index([10, 11, 12, 14], name="row")),
        "frame 0 values",
    ),
    "renamed index": (lambda df: df.rename_axis("line"), "frame 0 schema"),
    "NaN -> None in an object column": (
        lambda df: df.assign(note=pd.Series(["a", None, "c", None], dtype=object, index=df.index)),
        "frame 0 values",
    ),
    "other time zone, same instants": (
        lambda df: df.assign(day=df["day"].dt.tz_convert("UTC")),
        "frame 0 schema",
    ),
}


@pytest.mark.parametrize("change", MISSES, ids=list(MISSES))
def test_every_change_that_can_change_a_result_is_a_miss_with_its_reason(change: str) -> None:
    edit, reason = MISSES[change]
    before, after = fp([sample()]), fp([edit(sample())])
    assert before.sha256 != after.sha256
    assert explain(before.document, after.document) == f"inputs changed: {reason}"


def test_hash_pandas_object_traps_are_misses() -> None:
    base = pd.DataFrame({"a": [1, 0, 1]})
    variants = [
        base.rename(columns={"a": "b"}),
        base.astype("int32"),
        base.astype(bool),
        base.astype(str),
        base.astype(str).astype("category"),
    ]
    digests = {fp([v]).sha256 for v in [base, *variants]}
    assert len(digests) == 6
    # ... which hash_pandas_object cannot tell apart
    assert pd.util.hash_pandas_object(base).equals(pd.util.hash_pandas_object(variants[0]))


@pytest.mark.parametrize(
    ("before", "after", "reason"),
    [
        ({"start": "2024-01-01"}, {"start": "2024-01-02"}, "inputs changed: parameter start"),
        ({"n": 1}, {"n": 1.0}, "inputs changed: parameter n"),
        ({"n": 1}, {"n": True}, "inputs changed: parameter n"),
        ({"t": (1, 2)}, {"t": [1, 2]}, "inputs changed: parameter t"),
        ({"d": Decimal("1.0")}, {"d": Decimal("1.00")}, "inputs changed: parameter d"),
        ({"a": 1}, {"a": 1, "b": 2}, "inputs changed: new input b"),
    ],
)
def test_parameters_are_typed(before, after, reason) -> None:
    a, b = fp(before), fp(after)
    assert a.sha256 != b.sha256
    assert explain(a.document, b.document) == reason


def test_version_and_environment_are_part_of_the_fingerprint() -> None:
    a, b = fp({"x": 1}, version="1"), fp({"x": 1}, version="2")
    assert explain(a.document, b.document) == "version changed: '1' -> '2'"
    older = dict(a.document) | {"environment": a.document["environment"] | {"pandas": "1.5"}}
    assert explain(older, a.document).startswith("environment changed: pandas 1.5 -> ")


# -- what must be a hit -------------------------------------------------------------------------


def test_an_equal_frame_built_another_way_is_a_hit() -> None:
    assert fp([sample()]).sha256 == fp([rebuilt(sample())]).sha256


def test_dict_parameters_in_another_key_order_are_a_hit() -> None:
    a = fp({"params": {"a": 1, "b": [1, 2], "c": {"x": None, "y": 2.5}}, "z": 0})
    b = fp({"z": 0, "params": {"c": {"y": 2.5, "x": None}, "b": [1, 2], "a": 1}})
    assert a.sha256 == b.sha256


def test_sets_hash_in_a_stable_order() -> None:
    assert fp({"s": {"b", "a", "c"}}).sha256 == fp({"s": {"c", "a", "b"}}).sha256


def test_an_arrow_table_hashes_alike_however_it_is_chunked() -> None:
    table = pa.table(
        {"s": ["a", None, "ccc", "dd"], "x": [1, None, 3, 4], "b": [True, None, False, True]}
    )
    chunked = pa.Table.from_batches(table.to_batches(max_chunksize=1))
    sliced = pa.concat_tables([table.slice(0, 2), table.slice(2)])
    assert len({fp([t]).sha256 for t in (table, chunked, sliced)}) == 1
    assert fp([table]).sha256 != fp([table.slice(1)]).sha256


frames = st.integers(min_value=0, max_value=40).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(-(2**40), 2**40), min_size=n, max_size=n),
        st.lists(st.floats(allow_nan=True), min_size=n, max_size=n),
        st.lists(st.one_of(st.none(), st.text(max_size=5)), min_size=n, max_size=n),
    )
)


def _frame(data) -> pd.DataFrame:
    ints, floats, texts = data
    return pd.DataFrame(
        {
            "i": pd.Series(ints, dtype="int64"),
            "f": pd.Series(floats, dtype="float64"),
            "s": pd.Series(texts, dtype="str"),
        }
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames)
def test_property_equal_frames_hash_equally_and_any_changed_cell_is_a_miss(data) -> None:
    df = _frame(data)
    assert fp([df]).sha256 == fp([rebuilt(df)]).sha256
    if len(df):
        changed = df.copy()
        changed.loc[len(df) - 1, "i"] = int(df["i"].iloc[-1]) + 1
        assert fp([df]).sha256 != fp([changed]).sha256
        shorter = df.iloc[:-1]
        assert fp([df]).sha256 != fp([shorter]).sha256


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(st.text(max_size=4), st.one_of(st.integers(), st.text(max_size=4), st.none()))
)
def test_property_parameter_order_never_matters(params) -> None:
    shuffled = dict(reversed(list(params.items())))
    assert fp({"p": params}).sha256 == fp({"p": shuffled}).sha256


# -- stable across processes --------------------------------------------------------------------


def _digests_in_child(queue) -> None:
    queue.put(_digests())


def _digests() -> list[str]:
    return [
        fp([sample()]).sha256,
        fp({"s": {"x", "y", "z", "w"}, "d": {"b": 1, "a": 2}}).sha256,
        fp([pa.table({"s": ["a", None, "b"]})]).sha256,
    ]


def test_fingerprints_are_the_same_in_another_process_with_another_hash_seed() -> None:
    here = _digests()
    env = dict(os.environ, PYTHONHASHSEED="12345", PYTHONPATH=str(ROOT))
    code = "from tests.pipeline.test_fingerprint import _digests; print(*_digests())"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == here
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_digests_in_child, args=(queue,))
    child.start()
    assert queue.get(timeout=120) == here
    child.join(timeout=60)


# -- what cannot be hashed ----------------------------------------------------------------------


def test_an_input_without_a_faithful_hash_is_refused_naming_it() -> None:
    lock = multiprocessing.get_context("spawn").Lock()
    with pytest.raises(FingerprintError) as info:
        fp({"prices": pd.DataFrame({"a": [1]}), "conn": lock})
    assert info.value.input == "conn"
    assert "cache_key" in str(info.value)
    assert isinstance(info.value, TypeError)


def test_cache_key_string_stands_for_what_cannot_be_hashed() -> None:
    lock = object()
    a = fp({"conn": lock, "n": 1}, cache_key="db-2024-06")
    b = fp({"conn": object(), "n": 1}, cache_key="db-2024-06")
    c = fp({"conn": lock, "n": 1}, cache_key="db-2024-07")
    assert a.sha256 == b.sha256 != c.sha256
    assert explain(a.document, c.document) == "cache_key changed"


def test_cache_key_function_maps_what_cannot_be_hashed() -> None:
    class Connection:
        def __init__(self, url: str) -> None:
            self.url = url

    def key(obj):
        return obj.url

    a = fp({"conn": Connection("db://a")}, cache_key=key)
    b = fp({"conn": Connection("db://a")}, cache_key=key)
    c = fp({"conn": Connection("db://b")}, cache_key=key)
    assert a.sha256 == b.sha256 != c.sha256


def _big_fingerprint(queue) -> None:
    queue.put(fp([pd.DataFrame({"a": np.arange(1_000_000), "b": np.ones(1_000_000)})]).sha256)


@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
def test_a_forked_child_hashes_big_frames_without_the_parents_threads() -> None:
    expected = fp([pd.DataFrame({"a": np.arange(1_000_000), "b": np.ones(1_000_000)})]).sha256
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_big_fingerprint, args=(queue,))
    child.start()
    child.join(timeout=60)
    if child.is_alive():
        child.kill()
        child.join()
    assert child.exitcode == 0
    assert queue.get(timeout=10) == expected


def test_a_frame_holding_objects_without_a_canonical_form_is_refused_naming_it() -> None:
    odd = pd.DataFrame({"a": [1, 2], "obj": pd.Series([object(), 1], dtype=object)})
    with pytest.raises(FingerprintError) as info:
        fp({"prices": odd})
    assert info.value.input == "prices"
    assert "object" in info.value.reason
    same = fp({"prices": odd}, cache_key="v1")
    type_name = f"{pd.DataFrame.__module__}.{pd.DataFrame.__qualname__}"  # module differs by pandas
    assert same.document["inputs"]["prices"] == {"kind": "opaque", "type": type_name}
