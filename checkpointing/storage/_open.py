"""Opening a store's storage from what the user passed: a directory or an object store URL.

``s3://``, ``gs://`` (``gcs://``), ``az://`` (``abfs://``, ``abfss://``, ``azure://``) and
``memory://`` URLs open an :class:`~checkpointing.storage.ObjectStorage` through obstore (the
optional extra ``stagepoint[s3]``); anything else is a local directory. A URL of an object store
without the extra installed is an error naming the extra, never a local folder called ``s3:``.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any

from checkpointing._errors import StorageError
from checkpointing.storage._local import LocalStorage

if TYPE_CHECKING:
    import os
    from collections.abc import Mapping

    from checkpointing.storage._protocol import Storage

__all__: list[str] = []

#: URL schemes served by the object-store backend.
OBJECT_SCHEMES = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "azure", "adl", "memory")
_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]+)://(?P<rest>.*)")
#: Options of ours in ``storage_options``; every other key goes to obstore.
_OWN_OPTIONS = ("lease_seconds",)
# One in-memory store per URL and process, so that two managers of "memory://x" share it.
_memory_stores: dict[str, Any] = {}
_memory_lock = threading.Lock()


def is_object_url(location: object) -> bool:
    """Whether ``location`` is a URL of an object store (``s3://``, ``gs://``, ``az://`` ...)."""
    if not isinstance(location, str):
        return False
    found = _URL.fullmatch(location)
    return found is not None and found["scheme"].lower() in OBJECT_SCHEMES


def open_storage(
    location: str | os.PathLike[str],
    *,
    storage_options: Mapping[str, Any] | None = None,
    unsafe_single_writer: bool = False,
) -> Storage:
    """The storage of a store at ``location``: a directory, or an object store URL.

    Args:
        location: A directory, or ``s3://bucket/prefix`` (also ``gs://``, ``az://``,
            ``memory://``).
        storage_options: For an object store, obstore's configuration (credentials, endpoint,
            region, ``allow_http`` ... see docs/object-storage.md), read on top of the standard
            environment variables (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID`` ...); and
            ``lease_seconds``, the time to live of a run's claim (default 60). Not allowed for a
            directory.
        unsafe_single_writer: Accept an object store that does not honour conditional writes
            (see docs/object-storage.md).

    Raises:
        StorageError: An object store URL, but obstore is not installed, or the URL or an
            option is not valid.
        ValueError: ``storage_options`` given for a local directory, or a URL of a scheme that
            is not supported.
    """
    if isinstance(location, str) and (found := _URL.fullmatch(location)) is not None:
        scheme = found["scheme"].lower()
        if scheme == "file":
            return _local(found["rest"], storage_options)
        if scheme not in OBJECT_SCHEMES:
            raise ValueError(
                f"unsupported store URL scheme {scheme!r} in {location!r}; use a directory or "
                f"one of {', '.join(s + '://' for s in OBJECT_SCHEMES)}"
            )
        return _object(location, scheme, storage_options, unsafe_single_writer)
    return _local(location, storage_options)


def _local(location: str | os.PathLike[str], options: Mapping[str, Any] | None) -> LocalStorage:
    if options:
        raise ValueError("storage_options apply to object store URLs only, not a directory")
    return LocalStorage(location)


def _object(
    url: str, scheme: str, options: Mapping[str, Any] | None, unsafe_single_writer: bool
) -> Storage:
    try:
        import obstore.store
    except ImportError:
        raise StorageError(
            url,
            "an object store URL needs obstore: pip install 'stagepoint[s3]' "
            "(the same extra serves s3://, gs:// and az://)",
        ) from None
    from checkpointing.storage._object import ObjectStorage

    config = dict(options or {})
    own = {k: config.pop(k) for k in _OWN_OPTIONS if k in config}
    lease_seconds = float(own.get("lease_seconds", 60.0))
    if scheme == "memory":
        if config:
            raise ValueError("a memory:// store takes no storage_options but lease_seconds")
        with _memory_lock:
            store = _memory_stores.setdefault(url, obstore.store.MemoryStore())
    else:
        try:
            store = obstore.store.from_url(url, **config)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # obstore reports bad options in several types, a panic too
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StorageError(url, f"cannot open this object store: {reason}") from exc
    return ObjectStorage(
        store,
        location=url,
        lease_seconds=lease_seconds,
        unsafe_single_writer=unsafe_single_writer,
    )
