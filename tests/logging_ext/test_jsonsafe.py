"""Any value becomes strict JSON, in its documented form, without raising."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from logging_ext import dumps_strict, to_jsonable
from tests._json import loads_strict


class Color(enum.Enum):
    RED = "red"


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (float("nan"), None),
        (float("inf"), None),
        (float("-inf"), None),
        (np.float64("nan"), None),
        (np.float32(1.5), 1.5),
        (np.int64(7), 7),
        (np.bool_(True), True),
        (np.array([1.0, np.inf]), [1.0, None]),
        (np.array([[1, 2], [3, 4]]), [[1, 2], [3, 4]]),
        (decimal.Decimal("1.25"), 1.25),
        (decimal.Decimal("1E+400"), "1E+400"),
        (decimal.Decimal("0.1000000000000000000001"), "0.1000000000000000000001"),
        (decimal.Decimal("NaN"), None),
        (dt.datetime(2025, 10, 7, 20, 43, tzinfo=dt.UTC), "2025-10-07T20:43:00+00:00"),
        (dt.date(2025, 10, 7), "2025-10-07"),
        (dt.time(12, 30), "12:30:00"),
        (dt.timedelta(minutes=1, milliseconds=500), 60.5),
        ({3, 1, 2}, [1, 2, 3]),
        (frozenset({"b", "a"}), ["a", "b"]),
        ({1, "a"}, ["a", 1]),  # not orderable: sorted by repr
        (b"caf\xc3\xa9\xff", "café\\xff"),
        (Path("/tmp/x.parquet"), "/tmp/x.parquet"),
        (Color.RED, "red"),
        (ValueError("bad value"), "ValueError: bad value"),
        ((1, (2, 3)), [1, [2, 3]]),
        (
            {1: "int key", None: "none", (1, 2): "tuple"},
            {"1": "int key", "null": "none", "[1, 2]": "tuple"},
        ),
    ],
)
def test_awkward_values_take_their_documented_form(value: object, expected: object) -> None:
    assert loads_strict(dumps_strict({"v": value})) == {"v": expected}


@pytest.mark.parametrize("value", [object(), BadRepr(), type, lambda: 1])
def test_arbitrary_objects_become_strings(value: object) -> None:
    decoded = loads_strict(dumps_strict([value]))
    assert isinstance(decoded, list)
    assert isinstance(decoded[0], str)


def test_cycles_are_cut_instead_of_raising() -> None:
    data: dict[str, object] = {"a": float("nan")}
    data["self"] = data
    decoded = loads_strict(dumps_strict(data))
    assert isinstance(decoded, dict)
    assert decoded["a"] is None
    assert isinstance(decoded["self"], str)


def test_plain_data_is_serialised_as_json_dumps_does() -> None:
    data = {"a": [1, 2.5, "x", None, True], "b": {"c": "é"}}
    assert dumps_strict(data) == json.dumps(data)


@given(
    st.recursive(
        st.none() | st.booleans() | st.floats() | st.integers() | st.text() | st.binary(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner) | st.tuples(inner),
        max_leaves=20,
    )
)
def test_any_nested_value_gives_strict_json(value: object) -> None:
    loads_strict(dumps_strict(value))
    converted = to_jsonable(value)
    loads_strict(json.dumps(converted, allow_nan=False))


@given(st.floats())
def test_finite_floats_round_trip(value: float) -> None:
    decoded = loads_strict(dumps_strict(value))
    assert decoded == (value if math.isfinite(value) else None)
