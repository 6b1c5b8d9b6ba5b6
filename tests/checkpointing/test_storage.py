"""LocalStorage: atomic writes, hashing while writing, JSON helpers, confinement, leftovers."""

from __future__ import annotations

import hashlib
import inspect
import os
import signal
import time
import warnings

import pytest
import xxhash

from checkpointing import InvalidNameError
from checkpointing.storage import LocalStorage, Storage, open_storage


@pytest.fixture
def storage(tmp_path):
    return LocalStorage(tmp_path / "root")


@pytest.mark.parametrize(
    "sizes",
    [(10, 3 << 20, 7, 1 << 20), (10, 20_000, 7), (1,) * 600, ()],
    ids=["large (hashed on a thread)", "small (hashed inline)", "many tiny writes", "empty"],
)
def test_atomic_writer_hashes_what_it_writes(storage, sizes):
    payload = [os.urandom(n) for n in sizes]
    with storage.atomic_writer("x.bin") as out:
        for chunk in payload:
            out.write(chunk)
    data = b"".join(payload)
    assert storage.read_bytes("x.bin") == data
    assert out.result is not None
    assert out.result.sha256 == hashlib.sha256(data).hexdigest()
    assert out.result.xxh3 == xxhash.xxh3_64_hexdigest(data)
    assert out.result.size == len(data)
    assert storage.names() == ["x.bin"]


def test_failed_write_leaves_nothing(storage):
    with pytest.raises(RuntimeError), storage.atomic_writer("x.bin") as out:
        out.write(b"partial")
        raise RuntimeError("encoder failed")
    assert storage.names() == []


def test_json_round_trip_in_a_subdirectory(storage):
    storage.write_json_atomic("runs/etl.json", {"a": [1, "é"]})
    assert storage.read_json("runs/etl.json") == {"a": [1, "é"]}
    assert storage.names("runs") == ["etl.json"]
    storage.write_json_atomic("runs/etl.json", {"a": 2})
    assert storage.read_json("runs/etl.json") == {"a": 2}


def test_json_is_strict(storage):
    with pytest.raises(ValueError, match="JSON"):
        storage.write_json_atomic("x.json", {"a": float("nan")})
    assert storage.names() == []


def test_missing_file_is_file_not_found(storage):
    with pytest.raises(FileNotFoundError):
        storage.read_json("nope.json")


@pytest.mark.parametrize("name", ["../x.json", "runs/../../x", "/etc/passwd", "a//b", ".hidden"])
def test_names_cannot_escape_the_directory(storage, name):
    with pytest.raises(InvalidNameError):
        storage.write_json_atomic(name, {})


def test_leftovers_and_remove(storage):
    storage.write_json_atomic("a.json", {})
    (storage.root / ".tmp-a.json-0011223344556677").write_bytes(b"x")
    assert storage.leftovers(older_than=-1) == [".tmp-a.json-0011223344556677"]
    assert storage.leftovers(older_than=3600) == []
    assert storage.remove("a.json") is True
    assert storage.remove("a.json") is False


def test_append_line_repairs_a_torn_tail(storage):
    storage.append_line("j", b"one\n")
    with (storage.root / "j").open("ab") as f:
        f.write(b"tor")
    storage.append_line("j", b"two\n")
    assert storage.read_bytes("j").splitlines() == [b"one", b"tor", b"two"]


def test_both_backends_implement_the_storage_protocol(tmp_path):
    backends: list[Storage] = [  # checked by mypy; the names below at runtime
        LocalStorage(tmp_path),
        open_storage(f"memory://protocol-{tmp_path.name}"),
    ]
    members = {n: v for n, v in vars(Storage).items() if not n.startswith("_")}
    members.update(dict.fromkeys(Storage.__annotations__))
    for storage in backends:
        for name, declared in members.items():
            assert hasattr(storage, name), (type(storage).__name__, name)
            if inspect.isfunction(declared):
                assert callable(getattr(storage, name)), (type(storage).__name__, name)


def _create_many(root: str, name: str, tag: int, rounds: int, results) -> None:
    storage = LocalStorage(root)
    won = [storage.write_json_new(f"{name}-{i}.json", {"by": tag}) for i in range(rounds)]
    results.put((tag, won))


def test_create_if_absent_has_exactly_one_winner_across_processes(tmp_path):
    import json
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_create_many, args=(str(tmp_path), "claim", tag, 50, results))
        for tag in range(4)
    ]
    for proc in procs:
        proc.start()
    outcomes = dict(results.get(timeout=120) for _ in procs)
    for proc in procs:
        proc.join(60)
    for i in range(50):
        winners = [tag for tag, won in outcomes.items() if won[i]]
        assert len(winners) == 1
        assert json.loads((tmp_path / f"claim-{i}.json").read_text()) == {"by": winners[0]}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_create_if_absent_never_replaces(tmp_path):
    storage = LocalStorage(tmp_path)
    assert storage.write_json_new("a.json", [1]) is True
    assert storage.write_json_new("a.json", [2]) is False
    assert storage.read_json("a.json") == [1]


def test_commit_makes_staged_files_visible_together_and_in_order(storage):
    data = storage.stage_bytes("a.parquet", b"data")
    manifest = storage.stage_json("a.json", {"k": 1})
    assert all(name.startswith(".tmp-") for name in storage.names())  # nothing visible yet
    storage.commit(data, manifest)
    assert storage.read_bytes("a.parquet") == b"data"
    assert storage.read_json("a.json") == {"k": 1}
    assert sorted(storage.names()) == ["a.json", "a.parquet"]  # no temporary file left


def test_a_discarded_stage_leaves_nothing(storage):
    storage.discard(storage.stage_bytes("a.parquet", b"data"))
    assert storage.names() == []


def test_a_forked_child_commits_without_its_parents_fsync_thread(storage):
    """The fsync worker thread does not survive fork(); the child must start its own."""
    storage.commit(storage.stage_bytes("parent.a", b"1"), storage.stage_bytes("parent.b", b"2"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with a thread alive
        pid = os.fork()
    if pid == 0:  # the child: exit 0 only if the commit completes
        try:
            staged = [storage.stage_bytes(name, b"1") for name in ("child.a", "child.b")]
            storage.commit(*staged)
        finally:
            os._exit(0 if storage.exists("child.b") else 1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung waiting for its parent's fsync thread")
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.parametrize("size", [20_000, 3 << 20], ids=["hashed inline", "hashed on a thread"])
def test_staged_writes_report_their_phases(storage, size):
    timings: dict[str, float] = {}
    with storage.staged_writer("d.bin", timings=timings) as out:
        out.write(os.urandom(size))
    assert set(timings) == {"write", "hash"}
    manifest = storage.stage_json("d.json", {"k": 1}, timings=timings)
    assert out.staged is not None
    storage.commit(out.staged, manifest, timings=timings)
    assert set(timings) == {"write", "hash", "fsync", "rename"}
    assert all(ms >= 0 for ms in timings.values()) and timings["fsync"] > 0
    assert storage.read_json("d.json") == {"k": 1}


def test_timings_are_optional(storage):
    with storage.staged_writer("d.bin") as out:
        out.write(b"x")
    assert out.staged is not None
    storage.commit(out.staged)
    assert storage.read_bytes("d.bin") == b"x"
