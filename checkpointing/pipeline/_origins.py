"""Which frames in this process came from (or went into) a checkpoint, and its stored SHA-256.

A frame restored from a checkpoint, or passed to ``s.checkpoint()``, is exactly the frame the
checkpoint's bytes decode to (round trips are exact or refused at save), so the checkpoint's
``data_hash`` identifies its content and fingerprinting it costs nothing. The map holds each
frame weakly (by ``id`` with a ``weakref`` that must still point at the same object) and is
never trusted over the frame itself: a frame that may have changed since is hashed in full.

Guard against changes: for a DataFrame the map remembers its shape, column labels, dtypes,
index object, index names, ``attrs`` and the identity of every column's buffer, and keeps a
shallow copy that shares the buffers. Under copy-on-write (always on in pandas 3) a write into
a frame whose buffers are shared copies the written column first, so every in-place change
(``df.loc[...] = ``, ``df.iloc[...] =``, ``fillna(inplace=True)``, a new or replaced column, a
new index) shows as a changed buffer and the frame is hashed in full. Without copy-on-write
(pandas 2 with the option off) nothing is remembered and every frame is hashed in full. The
limit: memory written through a raw buffer obtained earlier (``np.asarray(df["a"])`` made
writable by hand, or C code) bypasses pandas and is not seen.
"""

from __future__ import annotations

import os
import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa

if TYPE_CHECKING:
    from collections.abc import Callable

__all__: list[str] = []

_lock = threading.Lock()
_origins: dict[int, _Origin] = {}


def _new_lock() -> None:
    """A lock held by another thread at ``fork`` would never be released in the child."""
    global _lock  # noqa: PLW0603 - per-process state, reset after fork
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_new_lock)


@dataclass
class _Origin:
    ref: weakref.ref[Any]
    resolve: Callable[[], str | None]
    data_hash: str | None
    guard: Any
    keep: Any  # the shallow copy that shares the frame's buffers (copy-on-write trigger)


def copy_on_write() -> bool:
    """Whether pandas copies a shared buffer before writing into it."""
    if int(pd.__version__.split(".", 1)[0]) >= 3:
        return True
    return pd.options.mode.copy_on_write is True


def remember(data: object, resolve: Callable[[], str | None]) -> None:
    """Note that ``data`` is exactly the content of a checkpoint.

    Args:
        data: A DataFrame or pyarrow Table (anything else is ignored).
        resolve: Returns the checkpoint's stored SHA-256 (``None`` when it cannot be read);
            called at most once, when a fingerprint first needs it.
    """
    if isinstance(data, pa.Table):
        guard, keep = None, None
    elif isinstance(data, pd.DataFrame) and copy_on_write():
        guard = _guard(data)
        if guard is None:
            return
        keep = data.copy(deep=False)
    else:
        return
    key = id(data)

    def forget(_: object, key: int = key) -> None:
        with _lock:
            origin = _origins.get(key)
            if origin is not None and origin.ref() is None:
                del _origins[key]

    origin = _Origin(weakref.ref(data, forget), resolve, None, guard, keep)
    with _lock:
        _origins[key] = origin


def stored_hash(data: object) -> str | None:
    """The stored SHA-256 of the checkpoint ``data`` is the content of, or ``None``.

    ``None`` when ``data`` never came from a checkpoint, or may have changed since.
    """
    with _lock:
        origin = _origins.get(id(data))
    if origin is None or origin.ref() is not data:
        return None
    if isinstance(data, pd.DataFrame) and _guard(data) != origin.guard:
        with _lock:
            if _origins.get(id(data)) is origin:
                del _origins[id(data)]
        return None
    if origin.data_hash is None:
        try:
            origin.data_hash = origin.resolve()
        except Exception:  # the manifest is gone or unreadable: hash the frame instead
            return None
    return origin.data_hash


def _guard(df: pd.DataFrame) -> tuple[Any, ...] | None:
    """What an in-place change of ``df`` changes (see the module docstring); ``None`` when a
    column's buffers cannot be located, so the frame cannot be vouched for."""
    buffers = []
    for i in range(df.shape[1]):
        found = _buffers(df.iloc[:, i].array)
        if found is None:
            return None
        buffers.append(found)
    return (
        df.shape,
        tuple(df.columns),
        tuple(df.dtypes),
        _Same(df.index),
        tuple(df.index.names),
        _Same(df.columns),
        dict(df.attrs),
        tuple(buffers),
    )


class _Same:
    """Compares equal to another ``_Same`` only when both hold the very same object."""

    __slots__ = ("obj",)

    def __init__(self, obj: object) -> None:
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.obj is self.obj

    __hash__ = None  # type: ignore[assignment]


def _address(values: Any) -> int:
    return int(np.asarray(values).__array_interface__["data"][0])


def _buffers(array: Any) -> tuple[int, ...] | None:
    """Addresses of the memory holding a column's values (``None``: unknown layout)."""
    if isinstance(array, pd.arrays.NumpyExtensionArray):
        return (_address(array.to_numpy()),)
    if isinstance(
        array, pd.arrays.DatetimeArray | pd.arrays.TimedeltaArray | pd.arrays.PeriodArray
    ):
        return (_address(cast("Any", array).asi8),)
    if isinstance(array, pd.Categorical):
        return (_address(array.codes),)
    data, mask = getattr(array, "_data", None), getattr(array, "_mask", None)
    if isinstance(data, np.ndarray) and isinstance(mask, np.ndarray):  # masked (Int64, ...)
        return (_address(data), _address(mask))
    if hasattr(array, "__arrow_array__"):
        chunked = array.__arrow_array__()
        return tuple(b.address for c in chunked.chunks for b in c.buffers() if b is not None)
    return None
