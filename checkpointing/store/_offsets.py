"""The ``freq`` of a DatetimeIndex or TimedeltaIndex: described exactly in JSON, or refused.

A frequency is stored as the offset's class name, ``n``, ``normalize`` and constructor arguments
(``{"type": "CustomBusinessDay", "n": 1, "normalize": false, "kwds": {"holidays": [...]}}``),
never as its short name: ``"C"`` is the name of every CustomBusinessDay whatever its holidays,
``"bh"`` of every BusinessHour whatever its hours. An offset is accepted only when the
description rebuilds an equal offset of the same class and name and that offset regenerates the
index's values exactly; on load the index keeps its stored values and gets the freq only after
the same check.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

__all__: list[str] = []

_DROP_HINT = "drop it first with df.index.freq = None"


def describe_freq(index: pd.Index) -> dict[str, Any] | None:
    """The JSON description of ``index.freq`` (None when it has none).

    Raises:
        TypeError: The offset cannot be described exactly (an argument with no JSON form, or
            a description that rebuilds a different offset or different values).
    """
    if not isinstance(index, pd.DatetimeIndex | pd.TimedeltaIndex) or index.freq is None:
        return None  # a PeriodIndex's freq is part of its dtype
    freq: Any = index.freq
    name = type(freq).__name__
    try:
        kwds = {k: _encode(v) for k, v in freq.kwds.items() if k != "calendar"}
    except TypeError as exc:
        raise TypeError(
            f"the index freq {freq!r} cannot be stored exactly ({exc}); {_DROP_HINT}"
        ) from exc
    spec = {"type": name, "n": int(freq.n), "normalize": bool(freq.normalize), "kwds": kwds}
    rebuilt = rebuild_freq(spec)
    if type(rebuilt) is not type(freq) or rebuilt != freq or rebuilt.freqstr != freq.freqstr:
        raise TypeError(f"the index freq {freq!r} cannot be stored exactly; {_DROP_HINT}")
    if not _regenerates(index, rebuilt):
        raise TypeError(f"the index freq {freq!r} does not regenerate its values; {_DROP_HINT}")
    return spec


def rebuild_freq(spec: dict[str, Any]) -> pd.offsets.BaseOffset:
    """The offset a :func:`describe_freq` description stands for (only pandas offset classes)."""
    cls = getattr(pd.offsets, spec["type"], None)
    if not (isinstance(cls, type) and issubclass(cls, pd.offsets.BaseOffset)):
        raise ValueError(f"unknown offset class {spec['type']!r}")
    kwds = {k: _decode(v) for k, v in spec["kwds"].items()}
    offset: pd.offsets.BaseOffset = cls(n=spec["n"], normalize=spec["normalize"], **kwds)
    return offset


def apply_freq(index: pd.Index, freq: pd.offsets.BaseOffset) -> pd.Index | None:
    """``index`` with ``freq`` set, or None when ``freq`` does not regenerate its values exactly.

    The values are never replaced: an index generated from the first value is compared with the
    stored one, and returned only when every value (and the dtype) is the same.
    """
    if not isinstance(index, pd.DatetimeIndex | pd.TimedeltaIndex):
        return None
    if len(index) == 0:
        return type(index)(index, freq=freq)
    make: Any = pd.date_range if isinstance(index, pd.DatetimeIndex) else pd.timedelta_range
    start: Any = index[0]
    tz = getattr(index, "tz", None)
    # A fixed step (h, min, s, ...) is absolute time whatever the time zone: generating it in
    # UTC and converting is what pandas means by it, and avoids localizing every value. Not a
    # Day: pandas steps days by the local calendar (a Tick on pandas 2, not on 3).
    in_utc = (
        tz is not None
        and isinstance(freq, pd.offsets.Tick)
        and not isinstance(freq, pd.offsets.Day)
    )
    try:
        generated = make(
            start=start.tz_convert("UTC") if in_utc else start,
            periods=len(index),
            freq=freq,
            name=index.name,
            unit=index.unit,
        )
    except (ValueError, OverflowError):
        return None
    if in_utc:
        generated = generated.tz_convert(tz)
    if generated.dtype != index.dtype or not np.array_equal(generated.asi8, index.asi8):
        return None
    result: pd.Index = generated
    return result


def _regenerates(index: pd.DatetimeIndex | pd.TimedeltaIndex, freq: Any) -> bool:
    """Whether ``freq`` regenerates ``index``'s values, as :func:`apply_freq` checks, without
    building an index when the step is fixed (a save only needs the answer)."""
    step = fixed_step(freq, index.unit) if len(index) else None
    if step is None:
        return apply_freq(index, freq) is not None
    values = index.asi8
    return len(values) < 2 or bool((np.diff(values) == step).all())


def fixed_step(freq: Any, unit: str) -> int | None:
    """The step of ``freq`` in ``unit`` (``"s"`` ... ``"ns"``) when it is absolute time (a Tick
    other than Day, whose steps follow the local calendar) and a whole number of units, else
    ``None``."""
    if not isinstance(freq, pd.offsets.Tick) or isinstance(freq, pd.offsets.Day):
        return None
    per_unit = _NANOS[unit]
    nanos = int(freq.nanos)
    if nanos % per_unit:
        return None
    return nanos // per_unit


_NANOS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}


def _encode(value: object) -> Any:
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float) and np.isfinite(value):
        return {"float": value.hex()}
    if isinstance(value, dt.timedelta):
        return {"timedelta": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, dt.time) and value.tzinfo is None:
        return {"time": value.isoformat()}
    if isinstance(value, np.datetime64):
        return {"datetime64": [str(value), np.datetime_data(value.dtype)[0]]}
    if isinstance(value, tuple | list):
        return {"tuple": [_encode(v) for v in value]}
    raise TypeError(f"argument {value!r} of type {type(value).__name__} has no JSON form")


def _decode(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    ((kind, raw),) = value.items()
    if kind == "float":
        return float.fromhex(raw)
    if kind == "timedelta":
        return dt.timedelta(days=raw[0], seconds=raw[1], microseconds=raw[2])
    if kind == "time":
        return dt.time.fromisoformat(raw)
    if kind == "datetime64":  # [text, unit]; the unit keeps NaT from being generic
        text, unit = raw
        return np.datetime64(text, unit)
    if kind == "tuple":
        return tuple(_decode(v) for v in raw)
    raise ValueError(f"unknown offset argument kind {kind!r}")
