"""Every example in README.md and docs/ runs as written, in an empty directory."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLES = [
    pytest.param(code, id=f"{page.name}#{number}")
    for page in PAGES
    for number, code in enumerate(re.findall(r"```python\n(.*?)```", page.read_text("utf-8"), re.S))
]


def test_the_docs_have_examples() -> None:
    assert len(EXAMPLES) >= 10
    assert any(str(example.id).startswith("README.md#") for example in EXAMPLES)


@pytest.mark.parametrize("code", EXAMPLES)
def test_example_runs(code: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    buckets = set(re.findall(r"s3://([a-z0-9.-]+)", code))
    if buckets:  # against moto's S3 server on 127.0.0.1 (tests/_s3.py), through the environment
        from tests._s3 import request as s3_request

        endpoint = request.getfixturevalue("s3_endpoint")
        s3_request(endpoint, "POST", "/moto-api/reset")
        for bucket in buckets:
            s3_request(endpoint, "PUT", f"/{bucket}")
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def _readme_console_commands() -> list[list[str]]:
    """The ``$ ...`` lines of README.md's console blocks, as argv lists, in reading order."""
    text = (ROOT / "README.md").read_text("utf-8")
    return [
        shlex.split(line.removeprefix("$ "), comments=True)
        for block in re.findall(r"```console\n(.*?)```", text, re.S)
        for line in block.splitlines()
        if line.startswith("$ ")
    ]


def test_the_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    """Break the example job, resume it, inspect what it left: each command as a reader types it.

    Only the interpreter (``.venv/bin/python``), the script's location and the placeholders
    (``ID_A``, ``ID_B``, ``PIPELINE_ID``) are filled in.
    """
    commands = _readme_console_commands()
    assert len(commands) >= 7
    placeholders: dict[str, str] = {}
    for argv in commands:
        assert argv[0] == ".venv/bin/python", argv
        if "checkpointing" in argv and not placeholders:
            listed = subprocess.run(
                [sys.executable, "-m", "checkpointing", "list", "--json"],
                cwd=tmp_path, capture_output=True, text=True, timeout=120, check=True,
            )  # fmt: skip
            found = json.loads(listed.stdout)
            placeholders = {
                "ID_A": found[1]["checkpoint_id"],
                "ID_B": found[0]["checkpoint_id"],
                "PIPELINE_ID": found[0]["pipeline_id"],
            }
        args = [
            str(ROOT / arg) if arg.startswith("scripts/") else placeholders.get(arg, arg)
            for arg in argv[1:]
        ]
        result = subprocess.run(
            [sys.executable, *args],
            cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        expected = 1 if "--fail-at" in args else 0
        assert result.returncode == expected, (argv, result.stdout[-1000:], result.stderr[-2000:])
        assert "Traceback" not in result.stderr, argv
