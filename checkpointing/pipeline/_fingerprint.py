"""A stage's fingerprint: the SHA-256 of a canonical JSON document of its code and inputs.

The document (kept in the manifest of every checkpoint the stage saves, so a later run and
``python -m checkpointing fingerprint`` can say why it no longer matches)::

    {"scheme": 1,                            # this module's way of hashing
     "stage": "clean", "key": null,          # which stage execution
     "version": "2",                         # the user's version= string
     "code": {...},                          # @step: the function's code tree (_code_identity)
     "inputs": {"0": {"kind": "frame", "schema": "…", "content": "sha256:…", "rows": 520},
                "start": {"kind": "param", "sha256": "…"}},
     "environment": {"python": "3.11", "numpy": "2.4", "pandas": "3.1", "pyarrow": "26.0"}}

Frames that came from a checkpoint have ``"content": "checkpoint:<data_hash>"``. :func:`explain`
turns two documents into the reason of a miss ("inputs changed: frame 0 schema",
"code changed: helper clean_prices").
"""

from __future__ import annotations

import functools
import platform
import types
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from checkpointing._errors import FingerprintError
from checkpointing.pipeline._canonical import NotCanonical, canonical, digest, type_name
from checkpointing.pipeline._code_identity import code_tree

if TYPE_CHECKING:
    from collections.abc import Callable

__all__: list[str] = []

SCHEME = 1
"""The version of the fingerprint scheme; a change makes every earlier fingerprint a miss."""


@dataclass(frozen=True)
class FingerprintSpec:
    """What a stage is fingerprinted from (``Pipeline.stage`` / ``@pipeline.step`` options)."""

    inputs: Any = None
    version: str | None = None
    cache: bool = False
    cache_key: str | Callable[[Any], Any] | None = None
    code: Callable[..., Any] | None = None

    def __post_init__(self) -> None:
        version: object = self.version
        cache: object = self.cache
        key: object = self.cache_key
        if version is not None and not isinstance(version, str):
            msg = f"version must be a str, not {type(version).__name__}"
            raise TypeError(msg)
        if not isinstance(cache, bool):
            msg = f"cache must be a bool, not {type(cache).__name__}"
            raise TypeError(msg)
        if key is not None and not (isinstance(key, str) or callable(key)):
            msg = f"cache_key must be a str or a function, not {type(key).__name__}"
            raise TypeError(msg)

    @property
    def active(self) -> bool:
        """Whether the stage has a fingerprint at all."""
        return (
            self.cache
            or self.inputs is not None
            or self.version is not None
            or self.cache_key is not None
            or self.code is not None
        )


@dataclass(frozen=True)
class Fingerprint:
    """A stage execution's fingerprint: ``sha256`` of the canonical text of ``document``."""

    sha256: str
    document: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The manifest field: ``{"sha256", "document"}``."""
        return {"sha256": self.sha256, "document": self.document}


def fingerprint(spec: FingerprintSpec, *, stage: str, key: str | None) -> Fingerprint:
    """The fingerprint of one stage execution.

    Raises:
        checkpointing.FingerprintError: An input cannot be hashed and ``cache_key`` does not
            say how to.
    """
    inputs: dict[str, Any] = {}
    if spec.inputs is not None:
        _walk(spec.inputs, None, spec.cache_key, stage, inputs)
    document: dict[str, Any] = {
        "scheme": SCHEME,
        "stage": stage,
        "key": key,
        "version": spec.version,
        "code": None if spec.code is None else code_tree(spec.code),
        "inputs": dict(sorted(inputs.items())),
        "environment": environment(),
    }
    if isinstance(spec.cache_key, str):
        document["cache_key"] = digest(spec.cache_key)
    return Fingerprint(digest(document), document)


@functools.lru_cache(maxsize=1)
def environment() -> dict[str, str]:
    """Major.minor versions of Python and of the libraries the data passes through."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    def minor(version: str) -> str:
        return ".".join(version.split(".")[:2])

    return {
        "python": minor(platform.python_version()),
        "numpy": minor(np.__version__),
        "pandas": minor(pd.__version__),
        "pyarrow": minor(pa.__version__),
    }


# -- inputs -------------------------------------------------------------------------------------


def _walk(value: Any, path: str | None, cache_key: Any, stage: str, out: dict[str, Any]) -> None:
    """Describe ``value`` into ``out`` (path -> leaf); containers at the top are always split."""
    if path is None and type(value) in (tuple, list, dict):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for name, item in items:
            if not isinstance(name, str | int):
                raise FingerprintError(stage, repr(name), "input names must be strings")
            _walk(item, str(name), cache_key, stage, out)
        return
    where = "0" if path is None else path
    try:
        leaf = _leaf(value)
    except NotCanonical as error:  # an object column holding something without a canonical form
        out[where] = _unhashable(value, where, error, cache_key, stage)
        return
    if leaf is not None:
        out[where] = leaf
        return
    if type(value) in (tuple, list, dict) and not _plain(value):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for name, item in items:
            _walk(item, f"{where}.{name}", cache_key, stage, out)
        return
    try:
        out[where] = {"kind": "param", "sha256": digest(canonical(value, where))}
    except NotCanonical as error:
        out[where] = _unhashable(value, where, error, cache_key, stage)


def _leaf(value: Any) -> dict[str, Any] | None:
    """Frames, tables and code; ``None`` for anything else."""
    import pandas as pd
    import pyarrow as pa

    if isinstance(value, pd.DataFrame | pd.Series | pd.Index | pa.Table):
        from checkpointing.pipeline._frame_hash import content_digest, schema_digest
        from checkpointing.pipeline._origins import stored_hash

        stored = stored_hash(value)
        return {
            "kind": _data_kind(value),
            "schema": schema_digest(value),
            "content": f"checkpoint:{stored}" if stored else f"sha256:{content_digest(value)}",
            "rows": len(value) if not isinstance(value, pa.Table) else value.num_rows,
        }
    if isinstance(
        value,
        types.FunctionType
        | types.MethodType
        | functools.partial
        | types.BuiltinFunctionType
        | type,
    ):
        return {"kind": "code", "tree": code_tree(value)}
    return None


def _data_kind(value: Any) -> str:
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        return "frame"
    if isinstance(value, pd.Series):
        return "series"
    return "index" if isinstance(value, pd.Index) else "table"


def _plain(value: Any) -> bool:
    try:
        canonical(value)
    except NotCanonical:
        return False
    return True


def _unhashable(
    value: Any, where: str, error: NotCanonical, cache_key: Any, stage: str
) -> dict[str, Any]:
    if isinstance(cache_key, str):
        return {"kind": "opaque", "type": type_name(value)}  # the cache_key string stands for it
    if callable(cache_key):
        replaced: dict[str, Any] = {}
        _walk(cache_key(value), where, None, stage, replaced)
        return {"kind": "cache_key", "parts": replaced}
    detail = f"{error.kind} at {where}{error.where}" if error.where else error.kind
    raise FingerprintError(stage, where, f"cannot fingerprint a {detail}")


# -- explaining a miss --------------------------------------------------------------------------


def explain(old: dict[str, Any] | None, new: dict[str, Any]) -> str:
    """Why ``new`` does not match ``old``, in a few words ("inputs changed: frame 0 schema")."""
    if not isinstance(old, dict):
        return "no fingerprint recorded"
    reasons: list[str] = []
    if old.get("scheme") != new.get("scheme"):
        return f"fingerprint scheme changed ({old.get('scheme')} -> {new.get('scheme')})"
    if (old.get("stage"), old.get("key")) != (new.get("stage"), new.get("key")):
        reasons.append("another stage execution")
    env_old, env_new = old.get("environment") or {}, new.get("environment") or {}
    changed = [
        f"{k} {env_old.get(k)} -> {env_new.get(k)}"
        for k in sorted(env_new)
        if env_old.get(k) != env_new.get(k)
    ]
    if changed:
        reasons.append("environment changed: " + ", ".join(changed))
    if old.get("version") != new.get("version"):
        reasons.append(f"version changed: {old.get('version')!r} -> {new.get('version')!r}")
    if old.get("code") != new.get("code"):
        reasons.append("code changed: " + _code_difference(old.get("code"), new.get("code")))
    inputs = _inputs_difference(old.get("inputs") or {}, new.get("inputs") or {})
    code_inputs = [r for r in inputs if r.startswith("code ")]
    if code_inputs:
        reasons.append("code changed: " + ", ".join(r[len("code ") :] for r in code_inputs))
    other = [r for r in inputs if not r.startswith("code ")]
    if other:
        reasons.append("inputs changed: " + ", ".join(other))
    if old.get("cache_key") != new.get("cache_key"):
        reasons.append("cache_key changed")
    return "; ".join(reasons) or "fingerprint changed"


def _inputs_difference(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for path in sorted(set(old) | set(new)):
        a, b = old.get(path), new.get(path)
        if a == b:
            continue
        if a is None:
            found.append(f"new input {path}")
        elif b is None:
            found.append(f"input {path} removed")
        elif a.get("kind") != b.get("kind"):
            found.append(f"input {path} is now a {b.get('kind')} (was a {a.get('kind')})")
        elif b.get("kind") == "code":
            found.append("code " + _code_difference(a.get("tree"), b.get("tree")))
        elif b.get("kind") in ("frame", "series", "index", "table"):
            part = "schema" if a.get("schema") != b.get("schema") else "values"
            found.append(f"{b['kind']} {path} {part}")
        elif b.get("kind") == "param":
            found.append(f"parameter {path}")
        else:
            found.append(f"input {path}")
    return found


def _code_difference(old: Any, new: Any, *, depth: int = 0) -> str:  # noqa: PLR0911
    """The first difference between two code trees, as a path of references."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return "function added" if old is None else "function removed" if new is None else "code"
    if old.get("kind") == "library" and new.get("kind") == "library":
        if old.get("version") != new.get("version"):
            return f"library {new.get('package')} {old.get('version')} -> {new.get('version')}"
        return _code_difference(old.get("wraps"), new.get("wraps"), depth=depth + 1)
    if old.get("kind") != new.get("kind") or old.get("name") != new.get("name"):
        return f"now {new.get('kind')} {new.get('name') or ''}".rstrip()
    if old.get("code") != new.get("code"):
        return f"body of {new.get('name')}"
    refs_old, refs_new = old.get("refs"), new.get("refs")
    if not isinstance(refs_old, dict) or not isinstance(refs_new, dict):
        return f"references of {new.get('name')}"
    for ref in sorted(set(refs_old) | set(refs_new)):
        a, b = refs_old.get(ref), refs_new.get(ref)
        if a == b:
            continue
        label = _label(ref, b if b is not None else a)
        if a is None:
            return f"now uses {label}"
        if b is None:
            return f"no longer uses {label}"
        inner = b.get("kind") in ("function", "class", "library") and a.get("kind") == b.get("kind")
        if inner and depth < 20:
            detail = _code_difference(a, b, depth=depth + 1)
            if detail.startswith("library "):
                return detail
            return label if detail.startswith("body of") else f"{label} > {detail}"
        return label
    return "code"


def _label(ref: str, tree: Any) -> str:
    """``global clean_prices`` -> ``helper clean_prices`` (and so on), for people."""
    origin, _, name = ref.partition(" ")
    kind = str(tree.get("kind")) if isinstance(tree, dict) else ""
    if origin == "global":
        words = {"function": "helper", "class": "class", "library": "library"}
        return f"{words.get(kind, 'global')} {name}"
    words = {
        "closure": "closure variable",
        "default": "default argument",
        "base": "base class",
        "attribute": "class attribute",
    }
    return f"{words.get(origin, origin)} {name}"
