"""Code fingerprints: what a function computes, not where or how it is written down.

:func:`code_tree` describes a function as a JSON tree of digests:

- its **source** as an AST with comments, docstrings, decorators, blank lines and positions
  normalised away (so a moved function, an edited comment or docstring, or the same script run
  under another file name or folder gives the same digest); its **bytecode** when there is no
  source (lambdas, ``exec``), likewise without line numbers or the docstring;
- the values it reads that are not its own: **globals** it loads (plain data by value; frames by
  schema and content), **closure cells**, **default arguments**, attributes it reads of modules
  it imports (``md.generate_ohlcv``);
- recursively, the code of the **functions and classes** it references that are defined in the
  user's own modules, down to :data:`MAX_DEPTH` levels (each function once per tree);
- **library code** (standard library, site-packages) as its distribution's version, not its
  source.

Objects that have no faithful description (an open connection, a logger) appear as their type
only, marked ``opaque``; they are listed so a user can see what is not hashed.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import os
import platform
import site
import sys
import sysconfig
import types
from pathlib import Path
from typing import Any

from checkpointing.pipeline._canonical import NotCanonical, canonical, digest, type_name
from checkpointing.pipeline._code_source import code_parts

__all__: list[str] = []

MAX_DEPTH = 8
"""How many levels of referenced functions are followed; deeper ones count by their own code."""


def code_tree(fn: object) -> dict[str, Any]:
    """The fingerprint tree of a function, method, ``functools.partial``, class or callable."""
    return _Walker().value(fn, 0)


class _Walker:
    """One traversal: remembers the functions already described, so each appears once."""

    def __init__(self) -> None:
        self._seen: set[int] = set()

    def value(self, value: object, depth: int) -> dict[str, Any]:  # noqa: PLR0911 - by type
        """The tree of any value a function refers to."""
        if isinstance(value, types.ModuleType):
            return self._module(value)
        if isinstance(value, types.FunctionType | type):
            return self._code(value, depth)
        if isinstance(value, types.MethodType):
            return {
                "kind": "method",
                "func": self.value(value.__func__, depth),
                "self": self.value(value.__self__, depth),
            }
        if isinstance(value, functools.partial):
            return {
                "kind": "partial",
                "func": self.value(value.func, depth),
                "args": [self.value(a, depth) for a in value.args],
                "keywords": {k: self.value(v, depth) for k, v in sorted(value.keywords.items())},
            }
        if isinstance(value, types.BuiltinFunctionType | types.BuiltinMethodType):
            return _library(getattr(value, "__module__", None) or "builtins", value)
        data = _data(value)
        if data is not None:
            return data
        try:
            return {"kind": "value", "sha256": digest(canonical(value))}
        except NotCanonical:
            pass
        if type(value) in (list, tuple, dict):
            return self._container(value, depth)
        return self._object(value, depth)

    def _container(self, value: Any, depth: int) -> dict[str, Any]:
        if isinstance(value, dict):
            items = {
                digest(canonical(k)) if _plain(k) else repr(k): self.value(v, depth)
                for k, v in value.items()
            }
            return {"kind": "dict", "items": dict(sorted(items.items()))}
        return {"kind": type(value).__name__, "items": [self.value(v, depth) for v in value]}

    def _object(self, value: object, depth: int) -> dict[str, Any]:
        kind = type(value)
        origin = _origin(kind.__module__)
        if origin is not None:
            return _library(kind.__module__, value) | {"kind": "opaque", "type": type_name(value)}
        tree: dict[str, Any] = {"kind": "object", "class": self._code(kind, depth)}
        state: dict[str, Any] = dict(getattr(value, "__dict__", None) or {})
        try:
            tree["state"] = digest(canonical(state))
        except NotCanonical:
            tree["state"] = (
                {k: self.value(v, depth + 1) for k, v in sorted(state.items())}
                if depth < MAX_DEPTH
                else "opaque"
            )
        return tree

    def _module(self, module: types.ModuleType) -> dict[str, Any]:
        if _origin(module.__name__) is not None:
            return _library(module.__name__, module)
        return {"kind": "module", "name": module.__name__.rsplit(".", 1)[-1]}

    def _code(self, fn: Any, depth: int) -> dict[str, Any]:
        module = getattr(fn, "__module__", None) or "builtins"
        if _origin(module) is not None:
            tree = _library(module, fn)
            wrapped = getattr(fn, "__wrapped__", None)
            if wrapped is not None:
                tree["wraps"] = self.value(wrapped, depth + 1)
            return tree
        kind = "class" if isinstance(fn, type) else "function"
        tree = {"kind": kind, "name": fn.__qualname__}
        if id(fn) in self._seen:
            return tree | {"see": "above"}
        self._seen.add(id(fn))
        functions = _functions_of(fn)
        tree["code"] = {f.__qualname__: code_parts(f.__code__)[0] for f in functions}
        if depth >= MAX_DEPTH:
            return tree | {"refs": "not followed (depth limit)"}
        refs: dict[str, Any] = {}
        if isinstance(fn, type):
            refs |= {
                f"base {b.__qualname__}": self.value(b, depth + 1)
                for b in fn.__bases__
                if b is not object
            }
            refs |= {f"attribute {k}": self.value(v, depth + 1) for k, v in _class_data(fn).items()}
        for function in functions:
            refs |= self._refs(function, depth)
        tree["refs"] = dict(sorted(refs.items()))
        return tree

    def _refs(self, fn: types.FunctionType, depth: int) -> dict[str, Any]:
        refs: dict[str, Any] = {}
        for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=True):
            try:
                contents = cell.cell_contents
            except ValueError:
                refs[f"closure {name}"] = {"kind": "empty cell"}
                continue
            refs[f"closure {name}"] = self.value(contents, depth + 1)
        for i, default in enumerate(fn.__defaults__ or ()):
            refs[f"default {i}"] = self.value(default, depth + 1)
        for name, default in sorted((fn.__kwdefaults__ or {}).items()):
            refs[f"default {name}"] = self.value(default, depth + 1)
        namespace = fn.__globals__
        for name, chains in sorted(code_parts(fn.__code__)[1].items()):
            if name not in namespace:
                continue  # a builtin (covered by the Python version) or not defined yet
            value = namespace[name]
            if isinstance(value, types.ModuleType) and _origin(value.__name__) is None:
                refs |= self._module_attributes(name, value, chains, depth)
            else:
                refs[f"global {name}"] = self.value(value, depth + 1)
        return refs

    def _module_attributes(
        self, name: str, module: types.ModuleType, chains: set[tuple[str, ...]], depth: int
    ) -> dict[str, Any]:
        """``md.fn`` where ``md`` is a module of the user's own: describe ``md.fn``."""
        refs: dict[str, Any] = {}
        if not chains:
            refs[f"global {name}"] = self._module(module)
        for chain in chains:
            value: Any = module
            label = name
            for attr in chain:
                if not isinstance(value, types.ModuleType) or not hasattr(value, attr):
                    break
                value = getattr(value, attr)
                label += f".{attr}"
            refs[f"global {label}"] = self.value(value, depth + 1)
        return refs


def _data(value: object) -> dict[str, Any] | None:
    """Frames, series, indexes and tables by schema and content."""
    import pandas as pd
    import pyarrow as pa

    if not isinstance(value, pd.DataFrame | pd.Series | pd.Index | pa.Table):
        return None
    from checkpointing.pipeline._frame_hash import content_digest, schema_digest

    try:
        content = content_digest(value)
    except NotCanonical:  # an object column holding arbitrary objects
        return {"kind": "opaque", "type": type_name(value)}
    return {"kind": "data", "schema": schema_digest(value), "content": content}


def _plain(value: object) -> bool:
    try:
        canonical(value)
    except NotCanonical:
        return False
    return True


def _functions_of(fn: Any) -> list[types.FunctionType]:
    """The function itself, or every function defined in a class body."""
    if isinstance(fn, types.FunctionType):
        return [fn]
    found: list[types.FunctionType] = []
    for member in vars(fn).values():
        if isinstance(member, staticmethod | classmethod):
            member = member.__func__  # noqa: PLW2901 - unwrap to the function
        if isinstance(member, property):
            found += [
                f
                for f in (member.fget, member.fset, member.fdel)
                if isinstance(f, types.FunctionType)
            ]
        elif isinstance(member, types.FunctionType):
            found.append(member)
    return found


def _class_data(cls: type) -> dict[str, Any]:
    """Class attributes that are data (not functions, descriptors or dunder entries)."""
    skip = (
        types.FunctionType,
        staticmethod,
        classmethod,
        property,
        types.MemberDescriptorType,
        types.GetSetDescriptorType,
    )
    return {
        k: v
        for k, v in sorted(vars(cls).items())
        if not (k.startswith("__") and k.endswith("__")) and not isinstance(v, skip)
    }


# -- library or user code ---------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    roots.update(getattr(site, "getsitepackages", list)())
    roots.add(site.getusersitepackages())
    return tuple(str(Path(r).resolve()) + os.sep for r in roots)


@functools.lru_cache(maxsize=2048)
def _origin(module_name: str) -> tuple[str, str] | None:
    """``(distribution, version)`` when ``module_name`` is library code; ``None`` for user code."""
    top = module_name.split(".", 1)[0]
    if top in sys.builtin_module_names or top in sys.stdlib_module_names or top == "builtins":
        return ("python", platform.python_version())
    module = sys.modules.get(module_name) or sys.modules.get(top)
    path = getattr(module, "__file__", None)
    if path is None:
        return None  # code that cannot be placed (exec, an interactive session) is the user's
    real = Path(path).resolve()
    if (
        "site-packages" not in real.parts
        and "dist-packages" not in real.parts
        and not str(real).startswith(_library_roots())
    ):
        return None
    return _distribution(top)


def _distribution(top: str) -> tuple[str, str]:
    with contextlib.suppress(importlib.metadata.PackageNotFoundError, ValueError):
        return (top, importlib.metadata.version(top))  # the usual case: named like the package
    names = importlib.metadata.packages_distributions().get(top) or []
    for name in names:
        try:
            return (name, importlib.metadata.version(name))
        except importlib.metadata.PackageNotFoundError:
            continue
    module = sys.modules.get(top)
    return (top, str(getattr(module, "__version__", "unknown")))


def _library(module_name: str, value: object) -> dict[str, Any]:
    package, version = _origin(module_name) or (module_name, "unknown")
    name = (
        getattr(value, "__qualname__", None) or getattr(value, "__name__", None) or type_name(value)
    )
    return {"kind": "library", "package": package, "version": version, "name": str(name)}
