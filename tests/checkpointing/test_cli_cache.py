"""python -m checkpointing invalidate / fingerprint: the cache from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from checkpointing import Pipeline
from checkpointing.__main__ import main


def _run(tmp_path: Path, raw: pd.DataFrame, window: int) -> str:
    p = Pipeline("etl", checkpoint_dir=tmp_path / "c", log_dir=tmp_path / "l")
    with p, p.stage("clean", inputs={"raw": raw, "window": window}, cache=True) as s:
        if not s.restored:
            s.checkpoint(raw.head(window))
    return str(s.restored_from or s.checkpoint_ids[-1])


def test_invalidate_then_the_next_run_computes_again(tmp_path: Path, capsys) -> None:
    raw = pd.DataFrame({"close": [1.0, 2.0, 3.0]})
    first = _run(tmp_path, raw, 2)
    assert _run(tmp_path, raw, 2) == first
    command = [sys.executable, "-m", "checkpointing", "--dir", str(tmp_path / "c")]
    done = subprocess.run(
        [*command, "invalidate", "etl", "clean"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "marked 1 cached result(s) of etl stage clean stale (their checkpoints are kept)"
    )
    assert (tmp_path / "c" / f"{first}.parquet").exists()
    assert _run(tmp_path, raw, 2) != first
    assert main(["--dir", str(tmp_path / "c"), "invalidate", "etl", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "invalidated": 1,
        "pipeline": "etl",
        "stage": None,
    }


def test_fingerprint_shows_what_was_hashed_and_explains_a_miss(tmp_path: Path, capsys) -> None:
    raw = pd.DataFrame({"close": [1.0, 2.0, 3.0]})
    a = _run(tmp_path, raw, 2)
    b = _run(tmp_path, raw.rename(columns={"close": "price"}), 2)
    assert main(["--dir", str(tmp_path / "c"), "fingerprint", a]) == 0
    out = capsys.readouterr().out
    assert "stage        clean" in out
    assert "input        raw: frame 3 rows, content sha256:" in out
    assert "input        window: param" in out
    assert main(["--dir", str(tmp_path / "c"), "fingerprint", a, b]) == 0
    assert capsys.readouterr().out.strip() == f"{b} vs {a}: inputs changed: frame raw schema"
    assert main(["--dir", str(tmp_path / "c"), "fingerprint", a, a, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"reason": "same fingerprint"}
