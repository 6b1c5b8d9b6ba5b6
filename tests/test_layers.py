"""The packages are layered, and imports only go down (docs/architecture.md).

Every module of ``checkpointing`` and ``logging_ext`` is parsed; each ``import`` (also inside
functions and ``if TYPE_CHECKING:`` blocks) must name a layer at or below the module's own.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Layer of each part of the distribution; a module may import its own layer and those below.
LAYERS: dict[str, int] = {
    "checkpointing._errors": 0,
    "checkpointing.storage": 1,
    "checkpointing.store": 2,
    "logging_ext": 2,  # beside the store; only the pipeline layer ties the two together
    "checkpointing.pipeline": 3,
    "checkpointing.report": 4,
    "checkpointing.cli": 5,
    "checkpointing.__main__": 6,
    "checkpointing": 7,  # the package's __init__: the public API, re-exporting every layer
}
# What each layer must never import, whatever its number says.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "logging_ext": ("checkpointing",),
    "checkpointing.store": ("logging_ext",),
    "checkpointing.storage": ("logging_ext",),
}


def layer_of(module: str) -> str | None:
    """The longest entry of LAYERS that ``module`` belongs to."""
    best = None
    for part in LAYERS:
        if (module == part or module.startswith(part + ".")) and (
            best is None or len(part) > len(best)
        ):
            best = part
    return best


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, *, is_package: bool) -> list[tuple[int, str]]:
    """``(line, absolute module)`` of every import in ``source``."""
    found = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base))
            # "from checkpointing.store import _registry" imports a submodule
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def violations(source: str, module: str, *, is_package: bool = False) -> list[str]:
    """The imports of ``module`` that go up a layer or into a forbidden part."""
    own = layer_of(module)
    assert own is not None, f"{module} belongs to no layer: add it to LAYERS"
    bad = []
    for line, target in imported_modules(source, module, is_package=is_package):
        if target.split(".")[0] not in ("checkpointing", "logging_ext"):
            continue
        their = layer_of(target)
        if their is None:
            continue
        if target.startswith(FORBIDDEN.get(own, ("\0",))) or LAYERS[their] > LAYERS[own]:
            bad.append(f"{module}:{line} imports {target} ({their} is above {own})")
    return bad


def _modules() -> list[Path]:
    return sorted(p for pkg in ("checkpointing", "logging_ext") for p in (ROOT / pkg).rglob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_only_go_down_the_layers(path: Path) -> None:
    module = module_name(path)
    source = path.read_text(encoding="utf-8")
    assert violations(source, module, is_package=path.name == "__init__.py") == []


def test_the_check_catches_an_import_that_goes_up() -> None:
    up = "from checkpointing.pipeline._runs import RunStore\n"
    assert violations(up, "checkpointing.store._manager")
    relative = "from ..pipeline import Pipeline\n"
    assert violations(relative, "checkpointing.store._manager")
    inside_function = "def f():\n    from checkpointing.cli import main\n"
    assert violations(inside_function, "checkpointing.pipeline._hooks")
    assert violations("import logging_ext\n", "checkpointing.store._manager")
    assert violations("from checkpointing import Pipeline\n", "logging_ext._logger")
    down = "from checkpointing.storage._local import LocalStorage\n"
    assert violations(down, "checkpointing.store._manager") == []


def test_every_folder_of_checkpointing_is_a_known_layer() -> None:
    folders = {p.name for p in (ROOT / "checkpointing").iterdir() if (p / "__init__.py").is_file()}
    assert {f"checkpointing.{f}" for f in folders} <= set(LAYERS)
