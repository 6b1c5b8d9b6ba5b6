"""Layer 1, storage: every byte the store reads or writes, behind one protocol (:class:`Storage`).

The local backend (:class:`LocalStorage`) writes a temporary file, fsyncs and renames it; name
validation (:func:`validate_name`) keeps every name inside its directory. Nothing here knows
what a checkpoint is.
"""

from __future__ import annotations

from checkpointing.storage._local import LocalStorage
from checkpointing.storage._names import validate_name
from checkpointing.storage._protocol import Storage

__all__ = ["LocalStorage", "Storage", "validate_name"]
