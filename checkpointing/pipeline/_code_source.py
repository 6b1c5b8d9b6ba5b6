"""What a code object is, independent of where it is written: a digest and the globals it reads.

:func:`code_parts` gives ``ast:<sha256>`` of the function's source as an AST, with comments,
docstrings, decorators, blank lines and positions normalised away, or ``bytecode:<sha256>`` of
its instructions and constants (not the line table, file name or docstring) when there is no
source that compiles to the running code: lambdas and comprehensions, ``exec``, or a file edited
after it was imported. It also lists the global names the code loads and the attribute chains it
reads from each (``md.generate_ohlcv``).
"""

from __future__ import annotations
import __future__

import ast
import copy
import dis
import functools
import hashlib
import inspect
import linecache
import operator
import types
import weakref
from typing import TYPE_CHECKING

from checkpointing.pipeline._canonical import NotCanonical, canonical, digest

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__: list[str] = []

_ATTRIBUTE_OPS = frozenset({"LOAD_ATTR", "LOAD_METHOD"})
_GLOBAL_OPS = frozenset({"LOAD_GLOBAL", "LOAD_NAME"})
Parts = tuple[str, dict[str, set[tuple[str, ...]]]]
# By identity: equal code objects (same bytecode in two files) may have different sources.
_code_cache: dict[int, tuple[weakref.ref[types.CodeType], Parts]] = {}
_FUTURE_FLAGS = functools.reduce(
    operator.or_, (getattr(__future__, name).compiler_flag for name in __future__.all_feature_names)
)


def code_parts(code: types.CodeType) -> Parts:
    """``(digest, globals)`` of a code object: ``ast:<sha256>`` of its normalised source, or
    ``bytecode:<sha256>``; and the global names it loads with the attribute chains read from
    each. Cached per code object (a code object never changes)."""
    found = _code_cache.get(id(code))
    cached = found[1] if found is not None and found[0]() is code else None
    if cached is None:
        source = _function_source(code)
        described = f"ast:{source}" if source is not None else f"bytecode:{_bytecode_digest(code)}"
        cached = (described, _globals_loaded(code))
        _code_cache[id(code)] = (weakref.ref(code, functools.partial(_forget, id(code))), cached)
    return cached


def _forget(key: int, _: object) -> None:
    _code_cache.pop(key, None)


def _function_source(code: types.CodeType) -> str | None:
    """Digest of the normalised AST of the function whose code this is, or ``None``.

    The module's source is compiled whole (once per module text) and the source of a function
    is used only when it compiles to exactly the running bytecode: a file edited after it was
    imported (a notebook that did not reload a module) falls back to the bytecode, so the digest
    always describes the code that runs.
    """
    if code.co_name.startswith("<"):
        return None  # lambdas and comprehensions share their line with other code
    text = "".join(linecache.getlines(code.co_filename))
    if not text:
        return None
    module = _parse_module(text, code.co_filename, code.co_flags & _FUTURE_FLAGS)
    if module is None:
        return None
    wanted = _bytecode_digest(code)
    for twin, node in module.get(code.co_qualname, ()):
        if _bytecode_digest(twin) == wanted:
            return _ast_digest(node)
    return None


@functools.lru_cache(maxsize=64)
def _parse_module(
    text: str, filename: str, flags: int
) -> dict[str, list[tuple[types.CodeType, ast.FunctionDef | ast.AsyncFunctionDef]]] | None:
    """``{qualname: [(code, def node), ...]}`` of every function in a module's source."""
    try:
        tree = ast.parse(text, filename)
        compiled = compile(tree, filename, "exec", flags=flags, dont_inherit=True)
    except (SyntaxError, ValueError):
        return None
    codes: dict[tuple[str, int], types.CodeType] = {}
    stack = [compiled]
    while stack:
        for const in stack.pop().co_consts:
            if isinstance(const, types.CodeType):
                codes[(const.co_qualname, const.co_firstlineno)] = const
                stack.append(const)
    found: dict[str, list[tuple[types.CodeType, ast.FunctionDef | ast.AsyncFunctionDef]]] = {}
    for node, qualname in _definitions(tree, ""):
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        twin = codes.get((qualname, first))
        if twin is not None:
            found.setdefault(qualname, []).append((twin, node))
    return found


def _definitions(
    node: ast.AST, prefix: str
) -> Iterator[tuple[ast.FunctionDef | ast.AsyncFunctionDef, str]]:
    """Every function definition under ``node`` with its ``__qualname__``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            yield child, f"{prefix}{child.name}"
            yield from _definitions(child, f"{prefix}{child.name}.<locals>.")
        elif isinstance(child, ast.ClassDef):
            yield from _definitions(child, f"{prefix}{child.name}.")
        else:
            yield from _definitions(child, prefix)


def _ast_digest(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    node = copy.deepcopy(node)
    node.decorator_list = []
    for child in ast.walk(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            body = child.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                child.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(
        ast.dump(node, annotate_fields=True, include_attributes=False).encode()
    ).hexdigest()


def _bytecode_digest(code: types.CodeType) -> str:
    """Digest of the instructions and constants (not the line table, file or docstring)."""
    h = hashlib.sha256(code.co_code)
    h.update(code.co_exceptiontable)
    consts = list(code.co_consts)
    if code.co_flags & inspect.CO_OPTIMIZED and not code.co_name.startswith("<") and consts:
        consts = consts[1:]  # a function's first constant is its docstring (or None)
    for const in consts:
        if isinstance(const, types.CodeType):
            h.update(_bytecode_digest(const).encode())
        else:
            try:
                h.update(digest(canonical(const)).encode())
            except NotCanonical:  # Ellipsis and the like: their repr is stable
                h.update(f"{type(const).__name__}:{const!r};".encode())
    fields = (code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars)
    h.update(
        repr(
            (
                fields,
                code.co_argcount,
                code.co_posonlyargcount,
                code.co_kwonlyargcount,
                code.co_flags,
            )
        ).encode()
    )
    return h.hexdigest()


def _globals_loaded(code: types.CodeType) -> dict[str, set[tuple[str, ...]]]:
    """Global names the code (and the code nested in it) loads, with the attribute chains."""
    found: dict[str, set[tuple[str, ...]]] = {}
    name: str | None = None
    chain: list[str] = []
    for instruction in dis.get_instructions(code):
        if instruction.opname in _GLOBAL_OPS:
            name, chain = str(instruction.argval), []
            found.setdefault(name, set())
        elif instruction.opname in _ATTRIBUTE_OPS and name is not None:
            chain.append(str(instruction.argval))
            found[name].add(tuple(chain))
        else:
            name = None
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            for nested, chains in _globals_loaded(const).items():
                found.setdefault(nested, set()).update(chains)
    return found
