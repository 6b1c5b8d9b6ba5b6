"""The repository keeps the promises its README makes."""

from __future__ import annotations

import ast
import re
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```bash\n(python3 -m venv .+?)\n```", text)


def test_readme_gives_exactly_two_setup_commands() -> None:
    commands = _readme_commands()
    assert len(commands) == 2
    assert "scripts/run_etl_pipeline.py" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readmes_test_command() -> None:
    test_command = _readme_commands()[1]
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command in ci_lines


def test_changelog_has_an_unreleased_section() -> None:
    assert "## [Unreleased]" in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")


def _claimed_pythons() -> set[str]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        classifiers = tomllib.load(f)["project"]["classifiers"]
    prefix = "Programming Language :: Python :: "
    return {c.removeprefix(prefix) for c in classifiers if c.startswith(prefix + "3.")}


def test_ci_runs_the_suite_on_every_python_the_classifiers_claim() -> None:
    """.ci/pythons names an installed interpreter for each claimed version but python3's own."""
    assert "pythons=$(bash .ci/pythons)" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    listed = subprocess.run(
        ["bash", str(ROOT / ".ci" / "pythons")], capture_output=True, text=True, check=False
    )
    assert listed.returncode == 0, listed.stderr
    found = dict(line.split(" ", 1) for line in listed.stdout.splitlines())
    default = subprocess.run(
        ["python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert default in _claimed_pythons()
    assert set(found) == _claimed_pythons() - {default}
    for version, interpreter in found.items():
        reported = subprocess.run(
            [interpreter, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        assert reported == version


def _generic_unit_datetimes(tree: ast.AST) -> list[int]:
    """Lines calling np.datetime64/np.timedelta64 without a unit on "NaT", "" or an integer."""
    lines = []
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"datetime64", "timedelta64"}
            and len(node.args) <= 1
            and not node.keywords
        ):
            continue
        value = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else ""
        if isinstance(value, int) or (isinstance(value, str) and value.lower() in {"", "nat"}):
            lines.append(node.lineno)
    return lines


def test_no_code_builds_a_numpy_datetime_of_the_deprecated_generic_unit() -> None:
    """numpy 2.5 warns on a generic-unit NaT; with warnings as errors, collection would fail."""
    found = {
        str(path.relative_to(ROOT)): lines
        for folder in ("checkpointing", "logging_ext", "tests", "bench", "scripts")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if (lines := _generic_unit_datetimes(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert found == {}
