"""Conversion of a checkpoint's metadata to strict JSON.

Rules (:func:`to_json_value`):

* ``None``, ``bool``, ``int``, ``str`` and finite ``float`` stay as they are; NaN, +inf and -inf
  become ``null`` (the JSON written is always strict: no ``NaN`` tokens).
* numpy scalars become the matching Python value; numpy arrays become (nested) lists.
* ``datetime``, ``date``, ``time`` and ``pandas.Timestamp`` become ISO 8601 strings; ``NaT``
  becomes ``null``; ``timedelta``/``pandas.Timedelta`` become ISO 8601 durations.
* ``Decimal``, ``UUID`` and paths become their ``str``; enums become their value.
* tuples and lists become lists; sets become lists, sorted when their items are orderable and
  otherwise sorted by their JSON text (so the output never depends on hash order).
* dict keys must be ``str`` (``int`` and numpy integer keys become their decimal string).
* anything else (DataFrames, arbitrary objects, cycles) is a ``TypeError`` naming where it is.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import math
import uuid
from decimal import Decimal
from pathlib import PurePath
from typing import Any

import numpy as np
import pandas as pd

__all__: list[str] = []


# -- metadata --------------------------------------------------------------------------------


def to_json_value(obj: object, *, where: str = "metadata") -> Any:
    """Convert ``obj`` to a JSON-compatible value by the rules in the module docstring.

    Raises:
        TypeError: Some value has no sane JSON form; the message names its path.
    """
    return _convert(obj, where, set())


def _iso_duration(delta: dt.timedelta) -> str:
    """``pd.Timedelta.isoformat``'s form (``P1DT2H3M4.000005S``, ``P-1DT23H59M59S``)."""
    hours, rest = divmod(delta.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    fraction = f".{delta.microseconds:06d}" if delta.microseconds else ""
    return f"P{delta.days}DT{hours}H{minutes}M{seconds}{fraction}S"


def _convert(obj: object, where: str, seen: set[int]) -> Any:  # noqa: PLR0911, PLR0912
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.generic):
        if isinstance(obj, np.datetime64 | np.timedelta64):
            try:
                value = pd.Timestamp(obj) if isinstance(obj, np.datetime64) else pd.Timedelta(obj)
            except (OverflowError, ValueError) as exc:
                raise TypeError(f"{where} is {obj!r}, out of pandas' range: {exc}") from exc
            return _convert(value, where, seen)
        return _convert(obj.item(), where, seen)
    if obj is pd.NaT:
        return None
    if isinstance(obj, dt.datetime | dt.date | dt.time):
        return obj.isoformat()
    if isinstance(obj, dt.timedelta):
        try:
            return pd.Timedelta(obj).isoformat()
        except (OverflowError, ValueError):  # beyond pandas' ~292 years: same form by hand
            return _iso_duration(obj)
    if isinstance(obj, Decimal | uuid.UUID | PurePath):
        return str(obj)
    if isinstance(obj, enum.Enum):
        return _convert(obj.value, where, seen)
    if isinstance(obj, dict | list | tuple | set | frozenset | np.ndarray):
        if id(obj) in seen:
            raise TypeError(f"{where} refers to itself; metadata must be a tree")
        seen = seen | {id(obj)}
        if isinstance(obj, np.ndarray):
            if obj.dtype == object:
                return [_convert(v, f"{where}[{i}]", seen) for i, v in enumerate(obj.tolist())]
            return _convert(obj.tolist(), where, seen)
        if isinstance(obj, dict):
            return {_key(k, where): _convert(v, f"{where}[{k!r}]", seen) for k, v in obj.items()}
        items = [_convert(v, f"{where}[{i}]", seen) for i, v in enumerate(obj)]
        if isinstance(obj, set | frozenset):
            try:
                items.sort()
            except TypeError:
                items.sort(key=lambda v: json.dumps(v, sort_keys=True))
        return items
    raise TypeError(
        f"{where} is a {type(obj).__module__}.{type(obj).__qualname__}, which has no JSON form; "
        "use numbers, strings, dates, lists or dicts of them"
    )


def _key(key: object, where: str) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, int | np.integer) and not isinstance(key, bool):
        return str(int(key))
    raise TypeError(f"{where} has a key {key!r} of type {type(key).__name__}; keys must be str")


def metadata_to_json(metadata: object) -> dict[str, Any]:
    """Convert the caller's metadata mapping (``None`` → ``{}``) to a JSON-safe dict.

    Raises:
        TypeError: ``metadata`` is not a dict, or holds a value with no JSON form.
    """
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict, not {type(metadata).__name__}")
    converted: dict[str, Any] = to_json_value(metadata)
    json.dumps(converted, allow_nan=False)
    return converted
