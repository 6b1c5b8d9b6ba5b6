"""Each package re-exports its public names through a complete, sorted ``__all__``."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import pytest

PACKAGES = ["checkpointing", "logging_ext"]


def _public_names_of_private_modules(package: ModuleType) -> set[str]:
    """``__all__`` of every private module of the package, its layers' modules included."""
    names: set[str] = set()
    for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):
        leaf = info.name.rsplit(".", 1)[-1]
        if info.ispkg or not leaf.startswith("_") or leaf == "__main__":
            continue
        module = importlib.import_module(info.name)
        names.update(getattr(module, "__all__", []))
    return names


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_unique(name: str) -> None:
    package = importlib.import_module(name)
    assert package.__all__ == sorted(set(package.__all__))


@pytest.mark.parametrize("name", PACKAGES)
def test_every_private_modules_public_name_is_reexported(name: str) -> None:
    package = importlib.import_module(name)
    missing = _public_names_of_private_modules(package) - set(package.__all__)
    assert not missing


@pytest.mark.parametrize("name", PACKAGES)
def test_every_exported_name_exists_and_is_documented(name: str) -> None:
    package = importlib.import_module(name)
    for exported in package.__all__:
        obj = getattr(package, exported)
        assert (obj.__doc__ or "").strip(), f"{name}.{exported} has no docstring"


@pytest.mark.parametrize("name", PACKAGES)
def test_package_ships_type_information(name: str) -> None:
    package = importlib.import_module(name)
    assert package.__file__ is not None
    from pathlib import Path

    assert (Path(package.__file__).parent / "py.typed").is_file()
