"""Progress bars on stderr: drawn on a terminal (a real pseudo-terminal here), never when piped."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pandas as pd
import pytest

from checkpointing import CheckpointManager, Pipeline

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, list[str]]:
    manager = CheckpointManager(tmp_path / "ck")
    frame = pd.DataFrame({"a": range(1000), "b": [1.5] * 1000})
    ids = [manager.save_checkpoint("etl", f"s{i}", frame) for i in range(3)]
    pipeline = Pipeline("etl", checkpoint_dir=tmp_path / "ck", log_dir=tmp_path / "logs")
    with pipeline, pipeline.stage("load") as stage:  # one run, for `runs`
        stage.checkpoint(frame)
    return tmp_path / "ck", ids


def _run(argv: list[str], *, tty: bool) -> tuple[int, str, str]:
    """Run ``python -m checkpointing argv``; stderr is a pseudo-terminal when ``tty``."""
    command = [sys.executable, "-m", "checkpointing", *argv]
    if not tty:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        return done.returncode, done.stdout, done.stderr
    leader, follower = pty.openpty()
    # a terminal of 24 rows and 100 columns, as a person's would be
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    with subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=follower, text=True
    ) as process:
        os.close(follower)
        chunks = []
        while True:
            ready, _, _ = select.select([leader], [], [], 30)
            if not ready:
                break
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        out = process.stdout.read() if process.stdout else ""
        code = process.wait()
    os.close(leader)
    return code, out, b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.parametrize(
    ("command", "label"),
    [
        (["verify"], "verify"),
        (["cleanup", "--retention-days", "1"], "cleanup"),
        (["diff", "{0}", "{1}"], "diff"),
        (["list"], "list"),
        (["runs"], "runs"),
        (["compact", "--older-than", "0", "--dry-run"], "compact"),
    ],
)
def test_a_bar_on_a_terminal_and_none_when_piped(store, command, label) -> None:
    directory, ids = store
    argv = ["--dir", str(directory), "--log-dir", str(directory.parent / "logs")]
    argv += [c.format(*ids) for c in command]
    code, out, err = _run(argv, tty=True)
    assert code == 0
    assert f"{label}:" in err  # tqdm's bar, on the terminal
    assert f"{label}:" not in out  # the command's own output is untouched
    code, piped_out, piped_err = _run(argv, tty=False)
    assert code == 0
    assert piped_err == ""
    assert piped_out == out


@pytest.mark.parametrize("where", ["before", "after"])
@pytest.mark.parametrize(
    "command", [["list"], ["runs"], ["verify"], ["compact", "--older-than", "0", "--dry-run"]]
)
def test_no_progress_draws_nothing_even_on_a_terminal(store, command, where) -> None:
    directory, _ = store
    argv = ["--dir", str(directory), "--log-dir", str(directory.parent / "logs"), *command]
    code, out, _ = _run(argv, tty=False)
    assert code == 0
    quiet = ["--no-progress", *argv] if where == "before" else [*argv, "--no-progress"]
    code, quiet_out, quiet_err = _run(quiet, tty=True)
    assert code == 0
    assert quiet_err == ""
    assert quiet_out == out
