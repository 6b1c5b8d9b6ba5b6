"""Run records: one small JSON file per pipeline run, the memory that makes resume possible.

A run record lives at ``<checkpoint_dir>/runs/<pipeline_id>.json`` and is rewritten whole and
atomically (temporary file, fsync, rename) through the storage module, so a reader sees either
the previous or the next version, never a torn one. It is written only when it changes
meaningfully: when the run starts, when a stage completes with a checkpoint, when a stage fails
and when the run ends.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from checkpointing._errors import CheckpointError

if TYPE_CHECKING:
    from checkpointing.storage._local import LocalStorage

__all__ = ["RunNotFoundError"]

RunStatus = Literal["running", "complete", "failed"]

RUNS_DIR = "runs"
_HOST = socket.gethostname()


class RunNotFoundError(CheckpointError, KeyError):
    """No run record exists for the requested pipeline id.

    Attributes:
        pipeline_id: The id that was asked for.
    """

    def __init__(self, pipeline_id: str) -> None:
        super().__init__(f"no run record for pipeline id {pipeline_id!r}")
        self.pipeline_id = pipeline_id

    def __reduce__(self) -> tuple[type[RunNotFoundError], tuple[str]]:
        return type(self), (self.pipeline_id,)

    def __str__(self) -> str:
        return str(self.args[0])


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


def _id_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(name)}_\d{{8}}_\d{{6}}_[0-9a-f]{{18}}$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:  # pragma: no cover - platform specific
        return False
    return True


@dataclass
class RunRecord:
    """The persisted state of one pipeline run (``runs/<pipeline_id>.json``).

    Attributes:
        name: The pipeline name.
        pipeline_id: The run's id; also the file name of the record.
        status: ``"running"``, ``"complete"`` or ``"failed"``.
        started_at: ISO-8601 UTC time the run was first started.
        finished_at: ISO-8601 UTC time the run last ended, or ``None``.
        stages: Completed stages in completion order, each
            ``{"stage", "checkpoint_ids", "completed_at"}``.
        attempts: How many times the run was started (1 + number of resumes).
        host: Host name of the process that last owned the run.
        pid: Process id of the process that last owned the run.
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
    def from_json(cls, obj: dict[str, Any]) -> RunRecord:
        """Build a record from :meth:`to_json` output (unknown keys are ignored)."""
        return cls(
            name=str(obj["name"]),
            pipeline_id=str(obj["pipeline_id"]),
            status=obj.get("status", "running"),
            started_at=str(obj.get("started_at", "")),
            finished_at=obj.get("finished_at"),
            stages=list(obj.get("stages", [])),
            attempts=int(obj.get("attempts", 1)),
            host=str(obj.get("host", "")),
            pid=int(obj.get("pid", 0)),
            error=obj.get("error"),
        )

    def checkpoints_of(self, stage: str) -> list[str]:
        """Checkpoint ids recorded for ``stage``, newest first."""
        ids: list[str] = []
        for entry in self.stages:
            if entry.get("stage") == stage:
                ids.extend(entry.get("checkpoint_ids", []))
        ids.reverse()
        return ids

    def take_over(self) -> None:
        """Mark this process (on this host) as the owner of the run."""
        self.host = _HOST
        self.pid = os.getpid()

    def owned_by_live_process(self) -> bool:
        """True when the run is marked running by a process on this host that is still alive."""
        return (
            self.status == "running"
            and self.host == _HOST
            and self.pid != os.getpid()
            and _pid_alive(self.pid)
        )


class RunStore:
    """Reads and writes run records under ``<checkpoint_dir>/runs`` (thread and process safe).

    Each record is its own file, written atomically, and only the process owning a run writes
    its record, so concurrent runs never contend.
    """

    def __init__(self, storage: LocalStorage) -> None:
        self._storage = storage

    @staticmethod
    def _name(pipeline_id: str) -> str:
        return f"{RUNS_DIR}/{pipeline_id}.json"

    def write(self, record: RunRecord) -> None:
        """Persist ``record`` atomically."""
        self._storage.write_json_atomic(self._name(record.pipeline_id), record.to_json())

    def read(self, pipeline_id: str) -> RunRecord:
        """The record of ``pipeline_id``.

        Raises:
            RunNotFoundError: There is no readable record for that id.
        """
        try:
            obj = self._storage.read_json(self._name(pipeline_id))
        except (FileNotFoundError, KeyError) as exc:
            raise RunNotFoundError(pipeline_id) from exc
        if not isinstance(obj, dict):
            raise RunNotFoundError(pipeline_id)
        return RunRecord.from_json(obj)

    def _ids(self) -> list[str]:
        names = self._storage.names(RUNS_DIR)
        return [n[: -len(".json")] for n in names if n.endswith(".json")]

    def latest_unfinished(self, name: str) -> RunRecord | None:
        """The most recently started run of ``name`` that did not complete and is not running.

        Runs still owned by a live process on this host are skipped, so a concurrent run is
        never taken over.
        """
        pattern = _id_pattern(name)
        for pipeline_id in sorted(filter(pattern.match, self._ids()), reverse=True):
            try:
                record = self.read(pipeline_id)
            except (RunNotFoundError, ValueError):
                continue
            if record.name != name or record.status == "complete":
                continue
            if record.owned_by_live_process():
                continue
            return record
        return None

    def delete(self, pipeline_id: str) -> bool:
        """Delete the record of ``pipeline_id``; True if this call deleted it.

        Retention (``checkpointing.pipeline._retention``) decides which runs may go.
        """
        return self._storage.remove(self._name(pipeline_id))
