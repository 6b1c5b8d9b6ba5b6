"""Run records: one small JSON file per pipeline run, the memory that makes resume possible.

A run record lives at ``<checkpoint_dir>/runs/<pipeline_id>.json`` and is rewritten whole and
atomically (temporary file, fsync, rename) through the storage layer, so a reader sees either
the previous or the next version, never a torn one. It is written only when it changes
meaningfully: when the run starts, when a stage completes with a checkpoint, when a stage fails
and when the run ends.

Ownership: the process that continues a run holds ``runs/<pipeline_id>.lock`` (an operating
system lock, released when its holder ends, even by ``SIGKILL``) for as long as it runs it. A
run whose lock is held is live; claiming a run is taking its lock without waiting, so exactly
one process continues it. Process ids are kept in the record for people, never trusted.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import socket
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from checkpointing._errors import RunNotFoundError, RunRecordError, RunUnavailableError
from checkpointing.pipeline._items import remove_run as remove_item_commits

if TYPE_CHECKING:
    from checkpointing.storage._protocol import Held, Storage

__all__: list[str] = []

RunStatus = Literal["running", "complete", "failed"]

RUNS_DIR = "runs"
_HOST = socket.gethostname()
_STATUSES = ("running", "complete", "failed")
_log = logging.getLogger("checkpointing.pipeline")


def now_utc() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


def new_pipeline_id(name: str, when: datetime | None = None) -> str:
    """``<name>_<YYYYmmdd_HHMMSS>_<suffix>``: sorts by start time, unique across processes.

    The suffix is the microsecond of the start time followed by 48 random bits, so ids of runs
    started in the same second still sort by start time and never collide in practice.
    """
    when = when or now_utc()
    return f"{name}_{when:%Y%m%d_%H%M%S}_{when:%f}{secrets.token_hex(6)}"


PIPELINE_ID_SUFFIX_LENGTH = len(new_pipeline_id(""))


def _id_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(name)}_\d{{8}}_\d{{6}}_[0-9a-f]{{18}}$")


def _typed(obj: dict[str, Any], key: str, kinds: tuple[type, ...], default: Any) -> Any:
    """``obj[key]`` if it has one of ``kinds`` (``default`` when absent); else ValueError."""
    if key not in obj:
        return default
    value = obj[key]
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
        msg = f"field {key!r} is {type(value).__name__}, not {names}"
        raise ValueError(msg)
    return value


def _required(obj: dict[str, Any], key: str) -> str:
    """``obj[key]``, a non-empty string; else ValueError."""
    value = _typed(obj, key, (str,), "")
    if not value:
        msg = f"field {key!r} is missing"
        raise ValueError(msg)
    return str(value)


def _check_stage_entry(entry: object) -> dict[str, Any]:
    if not isinstance(entry, dict):
        msg = f"a stage entry is {type(entry).__name__}, not an object"
        raise ValueError(msg)
    _required(entry, "stage")
    ids = _typed(entry, "checkpoint_ids", (list,), [])
    if not all(isinstance(i, str) for i in ids):
        raise ValueError("a stage entry's checkpoint_ids are not all strings")
    _typed(entry, "key", (str, type(None)), None)
    _typed(entry, "occurrence", (int, type(None)), None)
    return entry


@dataclass
class RunRecord:
    """The persisted state of one pipeline run (``runs/<pipeline_id>.json``).

    Attributes:
        name: The pipeline name.
        pipeline_id: The run's id; also the file name of the record.
        status: ``"running"``, ``"complete"`` or ``"failed"``.
        started_at: ISO-8601 UTC time the run was first started.
        finished_at: ISO-8601 UTC time the run last ended, or ``None``.
        stages: Completed stage executions in completion order, each ``{"stage", "key",
            "occurrence", "checkpoint_ids", "completed_at"}`` (``key`` is the explicit key or
            ``None``; ``occurrence`` numbers the executions of a name without a key, from 1).
        attempts: How many times the run was started (1 + number of resumes).
        host: Host name of the process that last owned the run (for people).
        pid: Process id of the process that last owned the run (for people).
        error: ``{"type", "message", "stage"}`` of the failure that ended the run, if any.
    """

    name: str
    pipeline_id: str
    status: RunStatus = "running"
    started_at: str = field(default_factory=lambda: now_utc().isoformat())
    finished_at: str | None = None
    stages: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 1
    host: str = _HOST
    pid: int = field(default_factory=os.getpid)
    error: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON-serialisable dict."""
        return {
            "name": self.name,
            "pipeline_id": self.pipeline_id,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "stages": self.stages,
            "attempts": self.attempts,
            "host": self.host,
            "pid": self.pid,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, obj: object) -> RunRecord:
        """Build a record from :meth:`to_json` output (unknown keys are ignored).

        Raises:
            ValueError: ``obj`` is not an object, or a field has the wrong type.
        """
        if not isinstance(obj, dict):
            msg = f"the record is {type(obj).__name__}, not an object"
            raise ValueError(msg)
        status = _typed(obj, "status", (str,), "running")
        if status not in _STATUSES:
            msg = f"field 'status' is {status!r}, not one of {', '.join(_STATUSES)}"
            raise ValueError(msg)
        return cls(
            name=_required(obj, "name"),
            pipeline_id=_required(obj, "pipeline_id"),
            status=status,
            started_at=_typed(obj, "started_at", (str,), ""),
            finished_at=_typed(obj, "finished_at", (str, type(None)), None),
            stages=[_check_stage_entry(e) for e in _typed(obj, "stages", (list,), [])],
            attempts=_typed(obj, "attempts", (int,), 1),
            host=_typed(obj, "host", (str,), ""),
            pid=_typed(obj, "pid", (int,), 0),
            error=_typed(obj, "error", (dict, type(None)), None),
        )

    def checkpoints_of(self, stage: str) -> list[str]:
        """Checkpoint ids recorded for any execution of ``stage``, newest first."""
        ids: list[str] = []
        for entry in self.stages:
            if entry.get("stage") == stage:
                ids.extend(entry.get("checkpoint_ids", []))
        ids.reverse()
        return ids

    def completed_stages(self) -> list[str]:
        """Names of the stages that completed with a checkpoint, in order of first completion."""
        return list(dict.fromkeys(str(entry["stage"]) for entry in self.stages))

    def take_over(self) -> None:
        """Mark this process (on this host) as the owner of the run."""
        self.host = _HOST
        self.pid = os.getpid()


class RunStore:
    """Reads and writes run records under ``<checkpoint_dir>/runs`` (thread and process safe).

    Each record is its own file, written atomically, and only the process that claimed a run
    (:meth:`claim`) writes its record, so concurrent runs never contend. A record is rewritten
    only if it is still the version this object last read or wrote (compare-and-swap on an
    object store's ETag): a process whose claim expired while it was stalled, and was taken
    over, cannot overwrite the new owner's record.
    """

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._versions: dict[str, str | None] = {}
        self._versions_lock = threading.Lock()

    @staticmethod
    def _name(pipeline_id: str) -> str:
        return f"{RUNS_DIR}/{pipeline_id}.json"

    @staticmethod
    def _lock_name(pipeline_id: str) -> str:
        return f"{RUNS_DIR}/{pipeline_id}.lock"

    def write(self, record: RunRecord) -> None:
        """Persist ``record`` atomically, if nobody else wrote it since this object did.

        Raises:
            RunUnavailableError: The record changed since this object last read or wrote it:
                another process took the run over.
        """
        pipeline_id, name = record.pipeline_id, self._name(record.pipeline_id)
        with self._versions_lock:
            version = self._versions.get(pipeline_id)
            try:
                new = self._storage.replace_json(name, record.to_json(), version=version)
            except FileExistsError:
                if version is None or self._storage.exists(name):
                    raise RunUnavailableError(
                        pipeline_id, "another process took it over (its record changed)"
                    ) from None
                # Gone (the store was deleted under the run): write it again, if still absent.
                new = self._storage.replace_json(name, record.to_json(), version=None)
            self._versions[pipeline_id] = new

    def read(self, pipeline_id: str, *, claimed: bool = False) -> RunRecord:
        """The record of ``pipeline_id``; ``claimed``: read under this process's claim, so its
        version is the one the next :meth:`write` must find.

        Raises:
            RunNotFoundError: There is no record for that id.
            RunRecordError: The record is not strict JSON, or a field has the wrong type.
        """
        name = self._name(pipeline_id)
        try:
            obj, version = self._storage.read_json_version(name)
        except FileNotFoundError as exc:
            raise RunNotFoundError(pipeline_id) from exc
        except ValueError as exc:
            raise RunRecordError(pipeline_id, self._storage.path(name), str(exc)) from exc
        try:
            record = RunRecord.from_json(obj)
        except ValueError as exc:
            raise RunRecordError(pipeline_id, self._storage.path(name), str(exc)) from exc
        if record.pipeline_id != pipeline_id:
            msg = f"it describes run {record.pipeline_id!r}"
            raise RunRecordError(pipeline_id, self._storage.path(name), msg)
        if claimed:
            with self._versions_lock:
                self._versions[pipeline_id] = version
        return record

    def _ids(self) -> list[str]:
        names = self._storage.names(RUNS_DIR)
        return [n[: -len(".json")] for n in names if n.endswith(".json")]

    def claim(self, pipeline_id: str) -> Held | None:
        """Take ownership of a run without waiting; ``None`` if a live process owns it.

        The claim lasts until it is released or its process ends (also by ``SIGKILL``).
        """
        return self._storage.try_lock(self._lock_name(pipeline_id))

    def is_live(self, pipeline_id: str) -> bool:
        """Whether some process (this one included) currently owns the run."""
        held = self.claim(pipeline_id)
        if held is None:
            return True
        held.release()
        return False

    def claim_latest_unfinished(self, name: str) -> tuple[RunRecord, Held] | None:
        """Claim the most recently started run of ``name`` that did not complete.

        Runs owned by a live process are skipped, so a concurrent run is never taken over;
        records that cannot be read are skipped with a warning that names the file.
        """
        pattern = _id_pattern(name)
        for pipeline_id in sorted(filter(pattern.match, self._ids()), reverse=True):
            if (record := self._read_or_warn(pipeline_id)) is None:
                continue
            if record.name != name or record.status == "complete":
                continue
            held = self.claim(pipeline_id)
            if held is None:
                continue
            # Read again under the claim: the previous owner may have finished meanwhile.
            record = self._read_or_warn(pipeline_id, claimed=True)
            if record is None or record.status == "complete":
                held.release()
                continue
            return record, held
        return None

    def latest(self, name: str, limit: int) -> list[RunRecord]:
        """The readable records of the ``limit`` most recently started runs of ``name``, newest
        first (unreadable ones are skipped with a warning and count towards ``limit``)."""
        pattern = _id_pattern(name)
        newest = sorted(filter(pattern.match, self._ids()), reverse=True)[:limit]
        return [r for i in newest if (r := self._read_or_warn(i)) is not None and r.name == name]

    def _read_or_warn(self, pipeline_id: str, *, claimed: bool = False) -> RunRecord | None:
        try:
            return self.read(pipeline_id, claimed=claimed)
        except RunNotFoundError:
            return None
        except RunRecordError as error:
            _log.warning("skipping run record: %s", error)
            return None

    def delete(self, pipeline_id: str) -> bool:
        """Delete the record of a run this process claimed, and its lock file.

        Retention (``checkpointing.pipeline._retention``) decides which runs may go.

        Returns:
            True if this call deleted the record.
        """
        deleted = self._storage.remove(self._name(pipeline_id))
        remove_item_commits(self._storage, pipeline_id)  # the run's fan-out commit records
        self._storage.remove(self._lock_name(pipeline_id))
        return deleted
