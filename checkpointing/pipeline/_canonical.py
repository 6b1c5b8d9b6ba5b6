"""Canonical JSON of parameters: equal values give equal bytes, in every process and run.

:func:`canonical` turns a parameter value into a JSON tree in which every value carries its type
(``["int", 1]`` is not ``["float", 1.0]`` nor ``["bool", true]``; a tuple is not a list), dict
items and set members are sorted, so the text depends only on the value: not on insertion order,
``hash()`` salting, memory addresses or the process. What it cannot represent faithfully raises
:class:`NotCanonical`, never a guess.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import json
import math
import re
import uuid
from decimal import Decimal
from pathlib import PurePath
from typing import Any, cast

__all__: list[str] = []

_MAX_DEPTH = 100


class NotCanonical(TypeError):
    """A value has no canonical form (an open file, a connection, an arbitrary object).

    Attributes:
        where: Where in the value it was found (``""`` at the top, ``"[2]"``, ``"['a']"``).
        kind: The qualified name of the value's type.
    """

    def __init__(self, where: str, kind: str) -> None:
        super().__init__(f"no canonical form for a {kind} at {where or 'the top'}")
        self.where = where
        self.kind = kind


def type_name(value: object) -> str:
    """``module.QualName`` of ``value``'s type (just the qualname for builtins)."""
    kind = type(value)
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def canonical(value: object, where: str = "", *, depth: int = 0) -> Any:  # noqa: PLR0911 - one branch per type
    """The typed JSON tree of ``value``.

    Supported: ``None``, ``bool``, ``int``, ``float`` (NaN and infinities included), ``complex``,
    ``str``, ``bytes``, ``list``, ``tuple``, ``dict`` (any canonical keys), ``set``,
    ``frozenset``, ``range``, ``datetime``/``date``/``time``/``timedelta`` (with their time
    zone), ``Decimal``, ``UUID``, paths, enums, compiled regular expressions, dataclass
    instances, numpy scalars and arrays (not of dtype object), and pandas ``Timestamp``,
    ``Timedelta``, ``Period``, ``NaT`` and ``NA``.

    Raises:
        NotCanonical: Anything else, and structures nested deeper than 100 levels.
    """
    if depth > _MAX_DEPTH:
        raise NotCanonical(where, "structure nested too deeply")
    if value is None or type(value) is str:
        return value
    if type(value) is bool:
        return ["bool", value]
    if isinstance(value, int) and type(value) is int:
        return ["int", value]
    if isinstance(value, float) and type(value) is float:
        return ["float", _float(value)]
    found = _scalar(value)
    if found is not None:
        return found
    nested = depth + 1
    container: Any = value
    if type(value) in (list, tuple):
        items = [canonical(v, f"{where}[{i}]", depth=nested) for i, v in enumerate(container)]
        return [type(value).__name__, items]
    if type(value) is dict:
        pairs = [
            [
                canonical(k, f"{where} key", depth=nested),
                canonical(v, f"{where}[{k!r}]", depth=nested),
            ]
            for k, v in container.items()
        ]
        return ["dict", sorted(pairs, key=_text)]
    if type(value) in (set, frozenset):
        members = [canonical(v, f"{where} member", depth=nested) for v in container]
        return [type(value).__name__, sorted(members, key=_text)]
    return _other(value, where, nested)


def digest(tree: Any) -> str:
    """SHA-256 (hex) of the canonical text of a JSON tree."""
    return hashlib.sha256(_text(tree).encode("utf-8")).hexdigest()


def _text(tree: Any) -> str:
    return json.dumps(
        tree, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def _float(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def _scalar(value: object) -> Any:  # noqa: PLR0911 - one branch per type
    """The typed form of a scalar of a standard-library type, or ``None``."""
    if isinstance(value, dt.datetime):
        return ["datetime", value.isoformat(), _zone(value.tzinfo), value.fold]
    if isinstance(value, dt.date):
        return ["date", value.isoformat()]
    if isinstance(value, dt.time):
        return ["time", value.isoformat(), _zone(value.tzinfo), value.fold]
    if isinstance(value, dt.timedelta):
        return ["timedelta", value.days, value.seconds, value.microseconds]
    if isinstance(value, complex):
        return ["complex", _float(value.real), _float(value.imag)]
    if isinstance(value, bytes | bytearray):
        return [type(value).__name__, value.hex()]
    if isinstance(value, Decimal):
        return ["Decimal", str(value)]
    if isinstance(value, uuid.UUID):
        return ["UUID", str(value)]
    if isinstance(value, PurePath):
        return ["path", type(value).__name__, value.as_posix()]
    if isinstance(value, range):
        return ["range", value.start, value.stop, value.step]
    if isinstance(value, re.Pattern):
        return ["regex", canonical(value.pattern), value.flags]
    return None


def _zone(tz: dt.tzinfo | None) -> str | None:
    return None if tz is None else str(tz)


def _other(value: object, where: str, depth: int) -> Any:
    """Enums, dataclasses, bool/int/float subclasses, numpy and pandas values."""
    if isinstance(value, enum.Enum):
        return [
            "enum",
            type(value).__qualname__,
            value.name,
            canonical(value.value, where, depth=depth),
        ]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {
            f.name: canonical(getattr(value, f.name), f"{where}.{f.name}", depth=depth)
            for f in dataclasses.fields(value)
        }
        return ["dataclass", type(value).__qualname__, sorted(fields.items())]
    module = type(value).__module__.split(".", 1)[0]
    if module == "numpy":
        return _numpy(value, where)
    if module == "pandas":
        return _pandas(value, where)
    raise NotCanonical(where, type_name(value))


def _numpy(value: Any, where: str) -> Any:
    import numpy as np

    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise NotCanonical(where, "numpy.ndarray of dtype object")
        data = np.ascontiguousarray(value)
        return [
            "ndarray",
            data.dtype.str,
            list(data.shape),
            hashlib.sha256(memoryview(cast("Any", data.view(np.uint8)))).hexdigest(),
        ]
    if isinstance(value, np.generic):
        if isinstance(value, np.datetime64 | np.timedelta64):
            return ["numpy", value.dtype.str, int(value.view("i8"))]
        if value.dtype.hasobject:
            raise NotCanonical(where, type_name(value))
        return ["numpy", value.dtype.str, bytes(np.asarray(value).data).hex()]
    raise NotCanonical(where, type_name(value))


def _pandas(value: Any, where: str) -> Any:
    import pandas as pd

    if value is pd.NaT:
        return ["NaT"]
    if value is pd.NA:
        return ["NA"]
    if isinstance(value, pd.Timestamp):
        return ["Timestamp", value.value, value.unit, _zone(value.tzinfo)]
    if isinstance(value, pd.Timedelta):
        return ["Timedelta", value.value, value.unit]
    if isinstance(value, pd.Period):
        return ["Period", str(value), value.freqstr]
    raise NotCanonical(where, type_name(value))
