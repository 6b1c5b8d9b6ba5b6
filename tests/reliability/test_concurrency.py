"""Several processes doing everything at once on one directory for a bounded time.

Four real processes each save, load, delete their own checkpoints, run cleanup, rebuild the
registry and log through one rotating file (rotating every 16 KiB) for a few seconds. Afterwards
nothing is lost (every save a process reported and did not delete is listed and verifies),
nothing is duplicated, nothing is torn (every log line strict JSON, every record exactly once).
"""

from __future__ import annotations

from collections import Counter

from checkpointing import CheckpointManager
from tests.reliability import _workers
from tests.reliability.conftest import strict_json_lines
from tests.reliability.test_sigkill import REGISTRY_FILES, manifests_on_disk

PROCESSES = 4
SECONDS = 3.0


def test_processes_doing_everything_at_once_lose_duplicate_and_tear_nothing(
    tmp_path, procs, capsys
):
    directory = tmp_path / "ckpt"
    log_file = tmp_path / "logs" / "pipeline.log"
    done = tmp_path / "done"
    workers = [
        procs.Process(
            target=_workers.mixed_worker,
            args=(str(directory), str(log_file), str(done), f"w{k}", SECONDS),
        )
        for k in range(PROCESSES)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(120)
        assert process.exitcode == 0

    lines = _workers.read_done(done)
    saved = [f[1] for f in lines if f[0] == "saved"]
    deleted = {f[1] for f in lines if f[0] == "deleted"}
    assert len(saved) == len(set(saved)), "two saves returned the same id"
    assert deleted <= set(saved)

    manager = CheckpointManager(directory)
    listed = [e["checkpoint_id"] for e in manager.list_checkpoints()]
    assert len(listed) == len(set(listed)), "a checkpoint is listed twice"
    assert set(listed) == set(saved) - deleted, "lost or resurrected checkpoints"
    assert manifests_on_disk(directory) == set(listed)
    for cid in listed:
        state = manager.verify_checkpoint(cid)
        assert state["metadata"]["worker"] == cid.split("_")[1]
    names = {p.name for p in directory.iterdir()}
    expected = {f"{c}.json" for c in listed} | {f"{c}.parquet" for c in listed}
    assert names - REGISTRY_FILES == expected, "torn or orphaned files"

    records: Counter[tuple[str, int]] = Counter()
    files = sorted(log_file.parent.glob("pipeline.log*"))
    for path in files:
        for record in strict_json_lines(path):
            records[record["worker"], record["seq"]] += 1
    written = {f[1]: int(f[2]) for f in lines if f[0] == "records"}
    assert len(written) == PROCESSES
    for worker, count in written.items():
        got = {seq for (w, seq) in records if w == worker}
        assert got == set(range(count)), f"{worker}: log records lost"
    assert set(records.values()) == {1}, "log records duplicated"
    size = sum(p.stat().st_size for p in files)
    with capsys.disabled():
        print(
            f"\n[concurrency] processes={PROCESSES} seconds={SECONDS} saves={len(saved)} "
            f"deletes={len(deleted)} listed={len(listed)} log records={len(records)} "
            f"log files={len(files)} bytes={size} lost=0 duplicated=0 torn=0"
        )
