"""Code fingerprints: an edit that can change a result is a miss; moving, commenting is not."""

from __future__ import annotations

import importlib.util
import itertools
import linecache
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from checkpointing.pipeline import _code_source
from checkpointing.pipeline._canonical import digest
from checkpointing.pipeline._code_identity import code_tree
from checkpointing.pipeline._fingerprint import explain

ROOT = Path(__file__).resolve().parents[2]
_names = itertools.count()

BASE = '''
import numpy as np

FACTOR = 2
LABELS = {"a": 1, "b": 2}


def clean_prices(x):
    return x * FACTOR


class Scaler:
    offset = 1

    def apply(self, x):
        return x + self.offset


def make_adder(step):
    def add(x):
        return x + step

    return add


def transform(x, *, bias=0):
    """Clean and scale the prices."""
    # scale after cleaning
    return Scaler().apply(clean_prices(x)) + np.log(1) + bias + LABELS["a"]
'''


def load(tmp_path: Path, text: str, *, folder: str = "", stem: str = "") -> Any:
    """Import ``text`` as a fresh module from a file of its own."""
    name = stem or f"fp_module_{next(_names)}"
    directory = tmp_path / (folder or name)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def tree_of(tmp_path: Path, text: str, function: str = "transform") -> dict[str, Any]:
    return code_tree(getattr(load(tmp_path, text), function))


def reason(before: dict[str, Any], after: dict[str, Any]) -> str:
    document = {"scheme": 1, "stage": "s", "key": None, "inputs": {}, "environment": {}}
    return explain(document | {"code": before}, document | {"code": after})


MISSES = {
    "edited function body": (
        ("+ np.log(1)", "- np.log(1)"),
        "code changed: body of transform",
    ),
    "edited helper it calls": (
        ("return x * FACTOR", "return x * FACTOR * 1.0"),
        "code changed: helper clean_prices",
    ),
    "changed module constant": (
        ("FACTOR = 2", "FACTOR = 3"),
        "code changed: helper clean_prices > global FACTOR",
    ),
    "changed module dict": (('"a": 1', '"a": 10'), "code changed: global LABELS"),
    "edited method of a class it uses": (
        ("return x + self.offset", "return x - self.offset"),
        "code changed: class Scaler",
    ),
    "changed class attribute": (
        ("offset = 1", "offset = 2"),
        "code changed: class Scaler > class attribute offset",
    ),
    "changed default argument": (("bias=0", "bias=1"), "code changed: body of transform"),
}


@pytest.mark.parametrize("change", MISSES, ids=list(MISSES))
def test_every_edit_that_can_change_a_result_is_a_miss(tmp_path: Path, change: str) -> None:
    (old, new), expected = MISSES[change]
    assert old in BASE
    before, after = tree_of(tmp_path, BASE), tree_of(tmp_path, BASE.replace(old, new))
    assert digest(before) != digest(after)
    assert reason(before, after) == expected


def test_a_changed_closure_variable_is_a_miss(tmp_path: Path) -> None:
    module = load(tmp_path, BASE)
    two, three = code_tree(module.make_adder(2)), code_tree(module.make_adder(3))
    assert digest(two) != digest(three)
    assert reason(two, three) == "code changed: closure variable step"
    assert digest(code_tree(module.make_adder(2))) == digest(two)


def test_an_edited_lambda_is_a_miss() -> None:
    assert digest(code_tree(lambda x: x + 1)) != digest(code_tree(lambda x: x - 1))
    assert digest(code_tree(lambda x: x + 1)) == digest(code_tree(lambda x: x + 1))


def test_an_edited_helper_of_another_module_of_the_user_is_a_miss(tmp_path: Path) -> None:
    helpers = "def scale(x):\n    return x * 2\n"
    user = "import {name} as h\n\ndef transform(x):\n    return h.scale(x)\n"
    first = load(tmp_path, helpers)
    before = tree_of(tmp_path, user.format(name=first.__name__))
    second = load(tmp_path, helpers.replace("* 2", "* 3"))
    after = tree_of(tmp_path, user.format(name=second.__name__))
    assert reason(before, after) == "code changed: helper h.scale"


HITS = {
    "comment edit": ("# scale after cleaning", "# scale only after cleaning (see #12)"),
    "docstring edit": ('"""Clean and scale the prices."""', '"""Scale."""'),
    "moved function": ("\ndef transform", "\n\n\n\ndef unrelated():\n    pass\n\n\ndef transform"),
    "blank lines and trailing comments": ("return x * FACTOR", "\n    return x * FACTOR  # x2\n"),
    "helper's docstring added": (
        "def clean_prices(x):\n",
        'def clean_prices(x):\n    """Multiply by FACTOR."""\n',
    ),
}


@pytest.mark.parametrize("change", HITS, ids=list(HITS))
def test_edits_that_cannot_change_a_result_are_hits(tmp_path: Path, change: str) -> None:
    old, new = HITS[change]
    assert old in BASE
    assert digest(tree_of(tmp_path, BASE)) == digest(tree_of(tmp_path, BASE.replace(old, new)))


def test_the_same_file_in_another_folder_under_another_name_is_a_hit(tmp_path: Path) -> None:
    a = code_tree(load(tmp_path, BASE, folder="one", stem="job").transform)
    b = code_tree(load(tmp_path, BASE, folder="two/deeper", stem="renamed_job").transform)
    assert digest(a) == digest(b)


def test_the_same_code_in_a_new_process_is_a_hit(tmp_path: Path) -> None:
    module = load(tmp_path, BASE)
    here = digest(code_tree(module.transform))
    path = Path(module.__file__)
    code = (
        "import importlib.util, sys\n"
        "from checkpointing.pipeline._canonical import digest\n"
        "from checkpointing.pipeline._code_identity import code_tree\n"
        f"spec = importlib.util.spec_from_file_location('other_name', {str(path)!r})\n"
        "m = importlib.util.module_from_spec(spec); sys.modules['other_name'] = m\n"
        "spec.loader.exec_module(m)\n"
        "print(digest(code_tree(m.transform)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PYTHONHASHSEED": "99", "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == here


def test_a_file_edited_after_import_never_lends_its_source_to_the_running_code(
    tmp_path: Path,
) -> None:
    module = load(tmp_path, BASE)
    running = module.transform
    path = Path(module.__file__)
    edited = BASE.replace("+ np.log(1)", "- np.log(1)")
    path.write_text(textwrap.dedent(edited), encoding="utf-8")
    linecache.checkcache(str(path))  # what a notebook does when it shows the new file
    _code_source._code_cache.clear()
    _code_source._parse_module.cache_clear()
    stale = code_tree(running)
    fresh = tree_of(tmp_path, edited)
    assert digest(stale) != digest(fresh)
    assert stale["code"]["transform"].startswith("bytecode:")
    assert fresh["code"]["transform"].startswith("ast:")


def test_library_code_counts_by_its_version_not_its_source(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, BASE)
    numpy = tree["refs"]["global np"]
    assert numpy["kind"] == "library"
    assert numpy["package"] == "numpy"
    import numpy as np

    assert numpy["version"] == np.__version__
    assert "code" not in numpy


def test_opaque_values_are_listed_by_type(tmp_path: Path) -> None:
    text = (
        "import logging\nlog = logging.getLogger('x')\n\ndef f(x):\n    log.info(x)\n    return x\n"
    )

    tree = tree_of(tmp_path, text, "f")
    assert tree["refs"]["global log"]["kind"] == "opaque"
    assert tree["refs"]["global log"]["type"] == "logging.Logger"


def test_recursion_and_cycles_terminate(tmp_path: Path) -> None:
    text = (
        "def even(n):\n    return n == 0 or odd(n - 1)\n\n"
        "def odd(n):\n    return n != 0 and even(n - 1)\n"
    )
    tree = tree_of(tmp_path, text, "even")
    assert tree["refs"]["global odd"]["refs"]["global even"] == {
        "kind": "function",
        "name": "even",
        "see": "above",
    }
