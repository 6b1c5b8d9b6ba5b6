"""The checkpoint registry at scale: does what users feel stay flat as the store grows?

Run: ``.venv/bin/python -m bench.bench_registry`` (``--quick``: 1,000 instead of 100,000, fewer
repeats). Every figure compares the same operation on a big store and on a small one (or on its
floor), measured in the same run, interleaved; each line prints the ratio of the medians and
both sides' median and min-max spread, so a noisy run shows as noisy.

* ``get_latest_checkpoint`` at 5,000 and 100,000 registered checkpoints vs at 10: the warm call
  (the same manager, called again) and the first call in a fresh process (a daily job calls it
  once in a new process; the interpreter and imports are not counted, the call is).
* ``list_checkpoints(pipeline_id)`` at 100,000 (10 of them that pipeline's) vs at 10.
* ``cleanup_old_checkpoints()`` of the whole store at 100,000, nothing expired, vs reading the
  registry once (every shard and the index decoded); the old single-file snapshot, decoded with
  one ``json.loads``, is printed beside it for reference.
* A one-stage ``with Pipeline(...)`` run, exit cleanup included, with 5,000 other checkpoints in
  the store vs with 10 (half of them earlier runs of the same pipeline, half other pipelines').

Stores are generated once under ``bench/.work/`` (not in git; delete it to start over). They
hold complete checkpoints: a manifest per checkpoint, cloned from one real 50-row checkpoint,
and its data file hard-linked to that checkpoint's Parquet file, so 100,000 checkpoints cost
100,000 directory entries rather than 100,000 Parquet encodings (the measured operations never
read the data; ``verify`` of any of them passes). The registry is built from the manifests by
the real ``rebuild_registry()``. Times are on a warm page cache.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pandas as pd

from bench._common import Timing, measure_pair, report
from checkpointing import CheckpointManager, Pipeline
from checkpointing.pipeline._runs import RunRecord, RunStore, new_pipeline_id

WORK = Path(__file__).resolve().parent / ".work"
QUERIED = "daily_etl"  # the pipeline whose latest / list is asked for: 10 checkpoints
STAGES = ("extract", "clean", "features", "train", "report")
FRAME = pd.DataFrame({"close": [float(i) for i in range(50)], "volume": list(range(50))})

FRESH_CALL = f"""
import sys, time
from checkpointing import CheckpointManager
directory, call = sys.argv[1], sys.argv[2]
start = time.perf_counter()
manager = CheckpointManager(directory)
if call == "latest":
    assert manager.get_latest_checkpoint({QUERIED!r}) is not None
else:
    assert len(manager.list_checkpoints({QUERIED!r})) == 10
print(time.perf_counter() - start)
"""


# -- stores ------------------------------------------------------------------------------------


class Cloner:
    """Writes complete checkpoints quickly: a cloned manifest and a hard link to one data file."""

    def __init__(self, path: Path) -> None:
        self.manager = CheckpointManager(path)
        template = self.manager.save_checkpoint("template", "s", FRAME)
        self.state = self.manager.get_state(template)
        self.data = path / f"{template}.parquet"
        self.template = template
        self.path = path
        self.links = 0

    def clone(self, pipeline_id: str, stage: str, when: datetime) -> str:
        cid = f"{pipeline_id}_{stage}_{when:%Y%m%dT%H%M%S%fZ}_{os.urandom(4).hex()}"
        state = dict(
            self.state,
            checkpoint_id=cid,
            pipeline_id=pipeline_id,
            stage=stage,
            timestamp=when.isoformat(),
            data_file=f"{cid}.parquet",
        )
        (self.path / f"{cid}.json").write_text(json.dumps(state, indent=1))
        if self.links == 60_000:  # a file system allows so many links to one file: copy it
            shutil.copyfile(self.data, self.path / f"{cid}.parquet")
            self.data, self.links = self.path / f"{cid}.parquet", 0
        else:
            os.link(self.data, self.path / f"{cid}.parquet")
            self.links += 1
        return cid

    def finish(self) -> float:
        """Drop the template, build the registry from the manifests; return the rebuild time."""
        self.manager.delete_checkpoint(self.template)
        start = time.perf_counter()
        self.manager.rebuild_registry()
        elapsed = time.perf_counter() - start
        self.manager.cleanup_old_checkpoints(sweep=True)  # the last sweep is recent, as usual
        return elapsed


def _when(rng: random.Random) -> datetime:
    """A moment in the last six days (nothing is older than the default 7-day retention)."""
    return datetime.now(UTC) - timedelta(days=rng.uniform(0.01, 6))


def registry_store(total: int) -> Path:
    """``total`` checkpoints: 10 of ``QUERIED``, the rest runs of 20 pipelines, 5 stages each."""
    path = WORK / f"registry-{total}"
    if path.with_suffix(".done").exists():
        return path
    shutil.rmtree(path, ignore_errors=True)
    rng = random.Random(total)
    started = time.perf_counter()
    cloner = Cloner(path)
    for day in range(2):
        for stage in STAGES:
            cloner.clone(QUERIED, stage, datetime.now(UTC) - timedelta(days=day, hours=1))
    for k in range((total - 10) // len(STAGES)):
        when = _when(rng)
        run_id = new_pipeline_id(f"job{k % 20}", when)
        for i, stage in enumerate(STAGES):
            cloner.clone(run_id, stage, when + timedelta(minutes=i))
    rebuild = cloner.finish()
    path.with_suffix(".done").write_text(f"{rebuild}\n")
    print(
        f"  generated {path.name}: {total:,} checkpoints in {time.perf_counter() - started:.1f} s "
        f"(rebuild_registry {rebuild:.1f} s)"
    )
    return path


def pipeline_store(others: int) -> Path:
    """A store where ``bench_job`` runs, with ``others`` checkpoints already there: half from
    earlier (complete, recorded) runs of ``bench_job``, half from runs of other pipelines."""
    path = WORK / f"pipeline-{others}"
    if path.with_suffix(".done").exists():
        return path
    shutil.rmtree(path, ignore_errors=True)
    rng = random.Random(others)
    cloner = Cloner(path)
    runs = RunStore(cloner.manager.storage)
    for k in range(others // len(STAGES)):
        name = "bench_job" if k % 2 == 0 else f"other{k % 7}"
        when = _when(rng)
        record = RunRecord(name, new_pipeline_id(name, when), status="complete")
        record.started_at = when.isoformat()
        for i, stage in enumerate(STAGES):
            at = when + timedelta(minutes=i)
            cid = cloner.clone(record.pipeline_id, stage, at)
            record.stages.append(
                {
                    "stage": stage,
                    "occurrence": 1,
                    "checkpoint_ids": [cid],
                    "completed_at": at.isoformat(),
                }
            )
        record.finished_at = record.stages[-1]["completed_at"]
        runs.write(record)
    cloner.finish()
    path.with_suffix(".done").write_text("done\n")
    return path


# -- measuring ---------------------------------------------------------------------------------


def fresh_pair(call: str, big: Path, small: Path, repeat: int, labels: tuple[str, str]):
    """Time ``call`` as the first call of a new process on each store, interleaved."""
    samples: dict[Path, list[float]] = {big: [], small: []}
    for i in range(repeat):
        for store in (big, small) if i % 2 == 0 else (small, big):
            out = subprocess.run(
                [sys.executable, "-c", FRESH_CALL, str(store), call],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            samples[store].append(float(out))
    return Timing(labels[0], tuple(samples[big])), Timing(labels[1], tuple(samples[small]))


def bench_latest_and_list(sizes: tuple[int, ...], repeat: int) -> None:
    small = registry_store(10)
    tiny = CheckpointManager(small)
    for size in sizes:
        big = CheckpointManager(registry_store(size))
        label = (f"{size:,} registered", "10 registered")
        a, b = measure_pair(
            partial(big.get_latest_checkpoint, QUERIED),
            partial(tiny.get_latest_checkpoint, QUERIED),
            repeat=repeat * 20,
            labels=label,
        )
        report(f"get_latest_checkpoint, warm, {size:,} vs 10", a, b, target=2)
        a, b = fresh_pair("latest", big.checkpoint_dir, small, repeat, label)
        report(
            f"get_latest_checkpoint, first call in a fresh process, {size:,} vs 10", a, b, target=2
        )
    big = CheckpointManager(registry_store(sizes[-1]))
    label = (f"{sizes[-1]:,} registered", "10 registered")
    a, b = measure_pair(
        lambda: big.list_checkpoints(QUERIED),
        lambda: tiny.list_checkpoints(QUERIED),
        repeat=repeat * 20,
        labels=label,
    )
    report(f"list_checkpoints(pipeline_id), warm, {sizes[-1]:,} (10 its own) vs 10", a, b, target=5)
    a, b = fresh_pair("list", big.checkpoint_dir, small, repeat, label)
    report(f"list_checkpoints(pipeline_id), fresh process, {sizes[-1]:,} vs 10", a, b, target=5)


def bench_cleanup(size: int, repeat: int) -> None:
    manager = CheckpointManager(registry_store(size))
    entries = manager._registry.all_entries()
    legacy = json.dumps({"format_version": 1, "checkpoints": entries}).encode()
    a, b = measure_pair(
        manager.cleanup_old_checkpoints,
        manager._registry.all_entries,
        repeat=repeat,
        labels=("cleanup_old_checkpoints()", "reading the registry once"),
    )
    report(f"cleanup_old_checkpoints() of {size:,}, nothing expired", a, b, target=2)
    a, b = measure_pair(
        manager.cleanup_old_checkpoints,
        lambda: json.loads(legacy),
        repeat=repeat,
        labels=("cleanup_old_checkpoints()", "json.loads of a one-file registry"),
    )
    report(f"  for reference: vs decoding the {size:,} entries as one JSON document", a, b)
    a, b = measure_pair(
        lambda: manager.cleanup_old_checkpoints(sweep=True),
        manager._registry.all_entries,
        repeat=max(3, repeat // 3),
        labels=("cleanup with the full leftover sweep", "reading the registry once"),
    )
    report(f"  for reference: the sweep that runs after a crash or weekly, {size:,}", a, b)
    a, b = measure_pair(
        manager.list_checkpoints,
        manager._registry.all_entries,
        repeat=max(3, repeat // 3),
        labels=("list_checkpoints() of everything", "reading the registry once"),
    )
    report(f"  for reference: listing the whole store, {size:,}", a, b)


def bench_pipeline_exit(others: int, repeat: int) -> None:
    big, small = pipeline_store(others), pipeline_store(10)
    logs = WORK / "pipeline-logs"

    def run(store: Path) -> None:
        pipeline = Pipeline("bench_job", checkpoint_dir=store, log_dir=logs / store.name)
        with pipeline, pipeline.stage("extract") as stage:
            stage.checkpoint(FRAME)

    a, b = measure_pair(
        lambda: run(big),
        lambda: run(small),
        repeat=repeat,
        labels=(f"{others:,} other checkpoints", "10 other checkpoints"),
    )
    report(f"one-stage `with pipeline:` run incl. exit cleanup, {others:,} vs 10", a, b, target=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,000 instead of 100,000")
    parser.add_argument("--repeat", type=int, default=15, help="samples per side (default 15)")
    args = parser.parse_args()
    WORK.mkdir(exist_ok=True)
    sizes = (1_000,) if args.quick else (5_000, 100_000)
    repeat = 5 if args.quick else args.repeat
    bench_latest_and_list(sizes, repeat)
    bench_cleanup(sizes[-1], repeat)
    bench_pipeline_exit(1_000 if args.quick else 5_000, repeat * 2)


if __name__ == "__main__":
    main()
