"""Conversion of any Python value to strict JSON (RFC 8259: no ``NaN``, no ``Infinity``).

The documented JSON form of awkward values:

==========================================  ===============================================
value                                       JSON
==========================================  ===============================================
``float('nan')``, ``inf``, ``-inf``         ``null``
numpy scalars (``np.int64``, ``np.float32``)  the number (``.item()``), NaN/inf as above
numpy arrays                                a (nested) list (``.tolist()``)
``decimal.Decimal``                         a number when finite and exactly representable
                                            as a float, else its string (``"1E+400"``,
                                            ``"NaN"`` -> ``null``)
``datetime``, ``date``, ``time``            ISO 8601 string (``isoformat()``)
``timedelta``                               seconds as a number (``total_seconds()``)
``set``, ``frozenset``                      a list, sorted when the items are orderable
``bytes``, ``bytearray``, ``memoryview``    a string, decoded as UTF-8 with
                                            ``backslashreplace``
``pathlib.PurePath``                        its string
``enum.Enum``                               its ``value`` (converted recursively)
an ``Enum`` class                           the list of its members' values
other classes                               the class name (``"ValueError"``)
``uuid.UUID``                               its string
tracebacks                                  the formatted frames, as text
exceptions                                  ``"TypeName: message"``
tuples, lists, other iterables of           lists
known containers
dict keys that are not strings              ``str(key)`` (``None``/bool/numbers as JSON spells
                                            them)
anything else                               ``repr(value)`` (``"<unrepresentable ...>"`` if
                                            ``repr`` itself fails)
==========================================  ===============================================

A ``default`` hook of the caller (python-json-logger's ``json_default``, or the ``default``
method of a ``json_encoder``) is tried first for any value ``json`` cannot encode; when it
raises or hands the value back unchanged, the forms above apply. Its results are made strict
too.

Nothing here ever raises: logging must not take a pipeline down.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import functools
import json
import math
import traceback
import uuid
from collections.abc import Callable, Mapping
from pathlib import PurePath
from types import TracebackType
from typing import Any

__all__ = ["dumps_strict", "json_default", "to_jsonable"]

_MAX_DEPTH = 64


def _safe_repr(value: object) -> str:
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__qualname__}>"


def _key(key: object) -> str:
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool | int | float):
        return json.dumps(to_jsonable(key))
    converted = to_jsonable(key)
    return converted if isinstance(converted, str) else json.dumps(converted)


def _float(value: float) -> float | None:
    return value if math.isfinite(value) else None


def json_default(value: Any) -> Any:  # noqa: PLR0911, PLR0912 - one branch per documented type
    """Return a JSON-serialisable stand-in for ``value`` (the ``default=`` hook of ``json.dumps``).

    The result may itself contain non-finite floats; :func:`dumps_strict` handles that.
    Never raises.
    """
    try:
        if type(value).__module__ == "numpy":
            return value.tolist() if hasattr(value, "shape") and value.shape else value.item()
        if isinstance(value, dt.datetime | dt.date | dt.time):
            return value.isoformat()
        if isinstance(value, dt.timedelta):
            return value.total_seconds()
        if isinstance(value, decimal.Decimal):
            return _decimal(value)
        if isinstance(value, enum.Enum):
            return value.value
        if isinstance(value, enum.EnumMeta):
            members: list[enum.Enum] = list(value)
            return [member.value for member in members]
        if isinstance(value, type):
            return value.__name__
        if isinstance(value, uuid.UUID):
            return str(value)
        if isinstance(value, TracebackType):
            return "".join(traceback.format_tb(value)).strip()
        if isinstance(value, set | frozenset):
            return _sorted_list(value)
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value).decode("utf-8", errors="backslashreplace")
        if isinstance(value, PurePath):
            return str(value)
        if isinstance(value, BaseException):
            return f"{type(value).__name__}: {value}"
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: getattr(value, f.name, None) for f in dataclasses.fields(value)}
        if isinstance(value, Mapping):
            return dict(value)
        if isinstance(value, tuple | list):
            return list(value)
    except Exception:  # noqa: S110 - fall through to repr
        pass
    return _safe_repr(value)


def _decimal(value: decimal.Decimal) -> float | str | None:
    if value.is_nan() or value.is_infinite():
        return None
    as_float = float(value)
    if math.isfinite(as_float) and decimal.Decimal(repr(as_float)) == value:
        return as_float
    return str(value)


def _sorted_list(items: set[Any] | frozenset[Any]) -> list[Any]:
    try:
        return sorted(items)
    except TypeError:
        return sorted(items, key=_safe_repr)


def chain_default(hook: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    """Return a ``default`` that tries ``hook`` first, then :func:`json_default`; never raises.

    ``hook`` counts as declining a value when it raises or returns the value itself.
    """
    if hook is None:
        return json_default

    def default(value: Any) -> Any:
        try:
            converted = hook(value)
        except Exception:
            return json_default(value)
        return json_default(value) if converted is value else converted

    return default


def to_jsonable(value: Any, *, default: Callable[[Any], Any] | None = None) -> Any:
    """Return a structure of dict/list/str/int/float/bool/None equal in meaning to ``value``.

    Every float in the result is finite (NaN and infinities become ``None``); dict keys are
    strings; a container met again inside itself, or nesting deeper than 64 levels, becomes its
    ``repr``. ``default`` (a ``json.dumps`` hook) is tried before the documented forms for any
    other value. Never raises.
    """
    return _jsonable(value, frozenset(), chain_default(default))


def _jsonable(value: Any, path: frozenset[int], hook: Callable[[Any], Any]) -> Any:  # noqa: PLR0911
    if value is None or type(value) in (str, bool, int):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _float(float(value))
    if id(value) in path or len(path) >= _MAX_DEPTH:
        return _safe_repr(value)
    inner = path | {id(value)}
    if isinstance(value, Mapping):
        try:
            items = list(value.items())
        except Exception:
            return _safe_repr(value)
        return {_key(k): _jsonable(v, inner, hook) for k, v in items}
    if isinstance(value, list | tuple):
        return [_jsonable(v, inner, hook) for v in value]
    converted = hook(value)
    if converted is value or isinstance(converted, str):
        return converted
    return _jsonable(converted, inner, hook)


@functools.cache
def strict_encoder(ensure_ascii: bool, indent: int | str | None) -> json.JSONEncoder:
    """One shared encoder per option set (an encoder keeps no state between calls)."""
    return json.JSONEncoder(
        default=json_default, allow_nan=False, ensure_ascii=ensure_ascii, indent=indent
    )


def dumps_strict(
    value: Any,
    *,
    ensure_ascii: bool = True,
    indent: int | str | None = None,
    default: Callable[[Any], Any] | None = None,
    cls: Callable[..., json.JSONEncoder] | None = None,
) -> str:
    """Serialise ``value`` to strict JSON text (never ``NaN``/``Infinity``); never raises.

    The common case (plain data) costs one ``json.dumps``; values that need conversion go
    through :func:`to_jsonable` first.

    Args:
        value: What to serialise.
        ensure_ascii: Escape non-ASCII characters.
        indent: ``json.dumps``'s ``indent``.
        default: A ``json.dumps`` ``default`` hook tried before the documented forms.
        cls: A ``json.JSONEncoder`` subclass to encode with; its ``default`` method is the
            hook when ``default`` is not given.
    """
    if cls is None and default is None:
        try:
            return strict_encoder(ensure_ascii, indent).encode(value)
        except (ValueError, TypeError, RecursionError):
            pass
    options: dict[str, Any] = {"allow_nan": False, "ensure_ascii": ensure_ascii, "indent": indent}
    hook = default
    try:
        if cls is None:
            return json.dumps(value, default=chain_default(default), **options)
        encoder = cls(default=default, **options)
        hook = encoder.default
        return encoder.encode(value)
    except Exception:  # anything a caller's encoder raises: convert, then encode plain data
        plain = to_jsonable(value, default=hook)
    if cls is not None:
        try:
            return cls(**options).encode(plain)
        except Exception:  # noqa: S110 - fall back to the stdlib encoder
            pass
    return json.dumps(plain, **options)
