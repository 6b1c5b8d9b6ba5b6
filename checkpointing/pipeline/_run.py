"""The run one ``Pipeline`` object is: which run it continues, its claim and its record.

:class:`RunTracker` resolves the run (a new one, the latest unfinished one, or an explicit id),
holds the claim that makes this process its only owner, numbers the executions of each stage
name, and writes the run record when it changes. Every method is thread safe.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from checkpointing._errors import RunUnavailableError, StageIdentityError
from checkpointing.pipeline._runs import RunRecord, RunStore, new_pipeline_id, now_utc
from checkpointing.storage._names import validate_name

if TYPE_CHECKING:
    from checkpointing.storage._protocol import Held

__all__: list[str] = []

_log = logging.getLogger("checkpointing.pipeline")


def describe_error(error: BaseException) -> dict[str, Any]:
    """``{"type", "message"}`` of ``error``, even when its ``__str__`` raises."""
    try:
        message = str(error)
    except Exception:  # an exception's own __str__ may fail; its type still says much
        message = f"<{type(error).__name__}: message unavailable>"
    return {"type": type(error).__name__, "message": message}


@dataclass(frozen=True)
class StageIdentity:
    """Which execution of a stage this is: its name plus its ``key``, or its occurrence.

    Executions of one name without a key are numbered 1, 2, ... in the order they are entered
    in a run; with a ``key`` the key alone tells them apart.
    """

    name: str
    key: str | None
    occurrence: int | None

    def matches(self, entry: dict[str, Any]) -> bool:
        """Whether a run record's stage entry records this execution."""
        if entry.get("stage") != self.name:
            return False
        if self.key is not None:
            return entry.get("key") == self.key
        return entry.get("key") is None and entry.get("occurrence", 1) == self.occurrence

    def describe(self) -> dict[str, Any]:
        """The identity fields of events and run record entries."""
        if self.key is not None:
            return {"key": self.key}
        return {"occurrence": self.occurrence}


class RunTracker:
    """The run of one ``Pipeline`` object and its record (``None`` store: records disabled).

    Args:
        name: The pipeline name.
        runs: The run records, or ``None`` when checkpoints (and so records) are disabled.
        resume: Continue the latest unfinished run of ``name`` that no live process owns.
        pipeline_id: Continue exactly this run (wins over ``resume``).

    Raises:
        checkpointing.RunNotFoundError: ``pipeline_id`` names no recorded run.
        checkpointing.RunRecordError: Its record cannot be read.
        checkpointing.RunUnavailableError: That run completed, or a live process runs it.
        ValueError: That run belongs to a pipeline of another name.
    """

    def __init__(
        self, name: str, runs: RunStore | None, *, resume: bool, pipeline_id: str | None
    ) -> None:
        self.name = name
        self._runs = runs
        self._lock = threading.Lock()
        self._record: RunRecord | None = None
        self._claim: Held | None = None
        self._started = False
        self._finished = False
        self._occurrences: dict[str, int] = {}
        self._keys: dict[tuple[str, str], bool] = {}  # (name, key) -> still running or done
        self.resumed = False
        self.reason = "new run"
        self.start_time: float | None = None  # time.perf_counter() when this attempt started
        self.last_failure: dict[str, Any] | None = None  # {"type", "message", "stage"}
        self.pipeline_id = self._resolve(resume, pipeline_id)

    def _resolve(self, resume: bool, pipeline_id: str | None) -> str:
        runs = self._runs
        if pipeline_id is not None:
            validate_name(pipeline_id, what="pipeline_id")
            if runs is None:
                self.reason = "pipeline_id given; checkpoints disabled, nothing to restore"
                return pipeline_id
            self._continue(runs, pipeline_id)
            return pipeline_id
        if not resume:
            return self._new(runs)
        if runs is None:
            self.reason = "checkpoints disabled: new run"
            return new_pipeline_id(self.name)
        found = runs.claim_latest_unfinished(self.name)
        if found is None:
            self.reason = "nothing to resume: new run"
            return self._new(runs)
        (record, self._claim), self.resumed = found, True
        self._record = record
        self.reason = f"resuming run {record.pipeline_id} (it was {record.status})"
        return record.pipeline_id

    def _new(self, runs: RunStore | None) -> str:
        pipeline_id = new_pipeline_id(self.name)
        if runs is not None:
            self._claim = runs.claim(pipeline_id)
        return pipeline_id

    def _continue(self, runs: RunStore, pipeline_id: str) -> None:
        record = runs.read(pipeline_id)
        if record.name != self.name:
            msg = f"run {pipeline_id!r} belongs to pipeline {record.name!r}, not {self.name!r}"
            raise ValueError(msg)
        if record.status == "complete":
            raise RunUnavailableError(pipeline_id, "it completed; a completed run is never resumed")
        claim = runs.claim(pipeline_id)
        if claim is None:
            raise RunUnavailableError(pipeline_id, "a live process is running it")
        record = runs.read(pipeline_id, claimed=True)  # again, under the claim
        if record.status == "complete":
            claim.release()
            raise RunUnavailableError(pipeline_id, "it completed; a completed run is never resumed")
        self._claim, self._record, self.resumed = claim, record, True
        self.reason = f"continuing run {pipeline_id} (it was {record.status})"

    # -- state --------------------------------------------------------------------------------

    @property
    def attempt(self) -> int:
        """The attempt number of this run (1 for a new run)."""
        with self._lock:
            return 1 if self._record is None else self._record.attempts

    @property
    def finished(self) -> bool:
        """Whether this attempt has ended (:meth:`finish` or :meth:`close`)."""
        return self._finished

    def record_json(self) -> dict[str, Any] | None:
        """A copy of the record as last written, or ``None``."""
        with self._lock:
            return None if self._record is None else self._record.to_json()

    # -- stage executions ---------------------------------------------------------------------

    def identify(self, name: str, key: str | None) -> StageIdentity:
        """The identity of a stage execution being entered now.

        Raises:
            checkpointing.StageIdentityError: ``key`` was already used for ``name`` in this run
                by an execution that is running or completed.
        """
        with self._lock:
            if key is not None:
                if self._keys.get((name, key)):
                    msg = f"key {key!r} is already used by another execution in this run"
                    raise StageIdentityError(name, msg)
                self._keys[(name, key)] = True
                return StageIdentity(name, key, None)
            occurrence = self._occurrences.get(name, 0) + 1
            self._occurrences[name] = occurrence
            return StageIdentity(name, None, occurrence)

    def identify_keys(self, name: str, keys: list[str]) -> list[StageIdentity]:
        """The identities of many keyed executions of ``name`` (a fan-out), all or none.

        Raises:
            checkpointing.StageIdentityError: A key is already used for ``name`` in this run by
                an execution that is running or completed; no key is taken then.
        """
        with self._lock:
            taken = [k for k in keys if self._keys.get((name, k))]
            if taken:
                shown = ", ".join(repr(k) for k in taken[:10])
                msg = f"keys already used by other executions in this run: {shown}"
                raise StageIdentityError(name, msg)
            for key in keys:
                self._keys[(name, key)] = True
            return [StageIdentity(name, key, None) for key in keys]

    def candidates(self, identity: StageIdentity) -> list[str]:
        """Checkpoint ids recorded for this execution, newest first.

        Raises:
            checkpointing.StageIdentityError: The record lists several executions of the name
                without an occurrence (written before executions were numbered), so which one
                this is cannot be told.
        """
        with self._lock:
            entries = [] if self._record is None else list(self._record.stages)
        same_name = [e for e in entries if e.get("stage") == identity.name]
        legacy = [e for e in same_name if e.get("key") is None and "occurrence" not in e]
        if identity.key is None and len({tuple(e.get("checkpoint_ids", [])) for e in legacy}) > 1:
            msg = (
                "the run record holds several executions of this name without an occurrence "
                "number; which one to restore is ambiguous. Start a new run, or pass key="
            )
            raise StageIdentityError(identity.name, msg)
        ids: list[str] = []
        for entry in same_name:
            if identity.matches(entry):
                ids.extend(entry.get("checkpoint_ids", []))
        ids.reverse()
        return ids

    def keyed_candidates(self, name: str) -> dict[str, list[str]]:
        """Checkpoint ids recorded for each key of ``name``, newest first (one pass)."""
        found: dict[str, list[str]] = {}
        with self._lock:
            entries = [] if self._record is None else list(self._record.stages)
        for entry in reversed(entries):
            key = entry.get("key")
            if entry.get("stage") == name and key is not None:
                found.setdefault(key, []).extend(reversed(entry.get("checkpoint_ids", [])))
        return found

    def stage_failed(self, identity: StageIdentity, error: BaseException) -> None:
        """Note a failed execution; the record says the run failed (never raises)."""
        with self._lock:
            if identity.key is not None:
                self._keys[(identity.name, identity.key)] = False  # the key may be retried
            self.last_failure = describe_error(error) | {"stage": identity.name}
            if self._record is None or self._runs is None:
                return
            self._record.status = "failed"
            self._record.error = describe_error(error) | {"stage": identity.name}
            self._write(failing=True)

    def stage_completed(
        self,
        identity: StageIdentity,
        checkpoint_ids: tuple[str, ...],
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Record a completed execution that saved checkpoints (or came from the cache);
        ``extra`` holds its ``fingerprint`` and ``cached_from`` checkpoint when it has them."""
        with self._lock:
            if self._record is None or self._runs is None:
                return
            self._record.stages.append(
                {"stage": identity.name}
                | identity.describe()
                | {"checkpoint_ids": list(checkpoint_ids), "completed_at": now_utc().isoformat()}
                | (extra or {})
            )
            self._write(failing=False)

    def executions_finished(
        self,
        completed: list[tuple[StageIdentity, dict[str, Any]]],
        failed: list[tuple[StageIdentity, BaseException]],
    ) -> None:
        """Record many executions with one write of the record (a fan-out's items).

        ``completed`` executions are recorded with their entry's fields (``checkpoint_ids``,
        and ``fingerprint``/``cached_from`` when they have them); ``failed`` ones free their
        key for a retry and, like :meth:`stage_failed`, mark the run failed with the first
        error. Never raises while recording a failure.
        """
        with self._lock:
            for identity, _ in failed:
                if identity.key is not None:
                    self._keys[(identity.name, identity.key)] = False
            if failed:
                identity, error = failed[0]
                self.last_failure = describe_error(error) | {"stage": identity.name}
            if self._record is None or self._runs is None or not (completed or failed):
                return
            now = now_utc().isoformat()
            for identity, fields in completed:
                self._record.stages.append(
                    {"stage": identity.name}
                    | identity.describe()
                    | {"checkpoint_ids": [], "completed_at": now}
                    | fields
                )
            if self.last_failure is not None and failed:
                self._record.status = "failed"
                self._record.error = dict(self.last_failure)
            self._write(failing=bool(failed))

    # -- the run ------------------------------------------------------------------------------

    def start(self) -> None:
        """Write the record of the run starting (once; later calls do nothing)."""
        if self._started:
            return
        with self._lock:
            if self._started_under_lock():
                return
            if self._runs is not None:
                if self._record is None:
                    self._record = RunRecord(self.name, self.pipeline_id)
                else:
                    self._record.status = "running"
                    self._record.attempts += 1
                    self._record.finished_at = None
                    self._record.error = None
                    self._record.take_over()
                self._write(failing=False)
            self._started = True
            self.start_time = time.perf_counter()

    def _started_under_lock(self) -> bool:
        return self._started

    def finish(self, error: BaseException | None, *, failed: bool = False) -> None:
        """End the attempt: ``complete`` unless ``error`` or ``failed``; then release the claim.

        Idempotent: only the first call after :meth:`start` writes the record.
        """
        with self._lock:
            if self._finished:
                return
            self._finished = True
            record, runs = self._record, self._runs
            if self._started and record is not None and runs is not None:
                record.status = "failed" if (error is not None or failed) else "complete"
                record.finished_at = now_utc().isoformat()
                if error is not None and record.error is None:
                    record.error = describe_error(error) | {"stage": None}
                self._write(failing=error is not None)
            if self._claim is not None:
                self._claim.release()
                self._claim = None

    def has_failed_stage(self) -> bool:
        """Whether a stage execution failed in this attempt."""
        with self._lock:
            return self.last_failure is not None

    def _write(self, *, failing: bool) -> None:
        """Persist the record (under the lock); while an exception propagates, never raise."""
        assert self._record is not None and self._runs is not None
        if not failing:
            self._runs.write(self._record)
            return
        try:
            self._runs.write(self._record)
        except Exception:
            _log.warning("could not update run record %s", self._record.pipeline_id, exc_info=True)
