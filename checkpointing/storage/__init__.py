"""Layer 1, storage: every byte the store reads or writes, behind one protocol (:class:`Storage`).

The local backend (:class:`LocalStorage`) writes a temporary file, fsyncs and renames it; the
object-store backend (:class:`ObjectStorage`, through obstore) PUTs objects and commits with
conditional writes; :func:`open_storage` picks one from a directory or URL. Name validation
(:func:`validate_name`) keeps every name inside its store. Nothing here knows what a checkpoint
is.
"""

from __future__ import annotations

from checkpointing.storage._local import LocalStorage
from checkpointing.storage._names import validate_name
from checkpointing.storage._object import ObjectStorage
from checkpointing.storage._open import is_object_url, open_storage
from checkpointing.storage._protocol import Held, Storage

__all__ = [
    "Held",
    "LocalStorage",
    "ObjectStorage",
    "Storage",
    "is_object_url",
    "open_storage",
    "validate_name",
]
