"""Alerts of a pipeline run: one notification when the run fails; if asked, when it succeeds
or is slow.

``Pipeline(name, alerts=[urls], alerts_on=("failure",))`` creates one :class:`RunAlerts`. When the
run ends it decides, once, whether to notify and composes the message: the pipeline, the run
id, the failed stage, the error's type and message, the duration and how to resume. Sending is
the job of a ``logging_ext.AlertHandler`` (its worker thread, timeouts, retries, rate limit and
redaction); pipelines of one process with the same URLs share one handler, so the rate limit
spans their runs, and the state of the rate limit is kept in ``<log_dir>/alerts/state.json``
so that it spans processes too.

Nothing here raises into the pipeline once the options are accepted: a failure to compose or
queue an alert is logged as a warning.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import statistics
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checkpointing.pipeline._config import ConfigError
from checkpointing.pipeline._run import describe_error

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from checkpointing.pipeline._events import EventLog
    from checkpointing.pipeline._run import RunTracker
    from checkpointing.pipeline._runs import RunStore
    from logging_ext import AlertHandler

__all__: list[str] = []

ALERTS_ON = ("failure", "success", "slow")
SLOW_HISTORY = 10  # completed runs whose median duration "slow" compares against
_STATE_FILE = Path("alerts") / "state.json"
_TITLE_LENGTH, _MESSAGE_LENGTH = 200, 2000
_log = logging.getLogger("checkpointing.pipeline")

_HANDLERS: dict[tuple[Any, ...], AlertHandler] = {}
_HANDLERS_LOCK = threading.Lock()


def _handler(urls: tuple[str, ...], window: float, state_file: Path | None) -> AlertHandler:
    """The process's alert handler for these URLs and rate limit (created once)."""
    key = (urls, window, None if state_file is None else str(state_file))
    with _HANDLERS_LOCK:
        handler = _HANDLERS.get(key)
        if handler is None:
            from logging_ext import AlertHandler

            handler = AlertHandler(urls, window=window, state_file=state_file)
            _HANDLERS[key] = handler
        return handler


def wait_for_alerts(timeout: float) -> bool:
    """Wait until the alerts of every pipeline of this process are settled (at most
    ``timeout`` seconds); whether they are."""
    deadline = time.monotonic() + timeout
    with _HANDLERS_LOCK:
        handlers = list(_HANDLERS.values())
    return all(h.wait(max(0.0, deadline - time.monotonic())) for h in handlers)


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def _clip(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


class RunAlerts:
    """Whether and what to notify when one run ends (see the module docstring).

    Args:
        name: The pipeline name.
        urls: Apprise URLs; empty: no alerts (nothing is imported).
        on: Which outcomes notify: ``"failure"``, ``"success"``, ``"slow"``.
        slow_factor: "slow" means slower than this many times the median of the last runs.
        slow_min_runs: Completed runs needed before "slow" is judged.
        resume_hint: How to resume, said in failure alerts: a string, or a function of the
            pipeline id returning one; ``None``: the ``Pipeline`` call that continues the run.
        window: Seconds during which the same failure is not notified again.
        run: The run tracker.
        events: The run's event log.
        runs: The run records (``None`` with checkpoints disabled).

    Raises:
        checkpointing.ConfigError: An unknown ``on`` value, a ``slow_factor`` of 1 or less, a
            ``slow_min_runs`` under 1 or a negative ``window``.
        ImportError: ``urls`` are given and Apprise is not installed.
        logging_ext.InvalidHandlerArgumentError: Apprise does not recognise a URL (shown
            redacted).
    """

    def __init__(
        self,
        name: str,
        urls: Iterable[str] | None,
        *,
        on: Iterable[str],
        slow_factor: float,
        slow_min_runs: int,
        resume_hint: str | Callable[[str], str] | None,
        window: float,
        run: RunTracker,
        events: EventLog,
        runs: RunStore | None,
    ) -> None:
        self.on = (on,) if isinstance(on, str) else tuple(on)
        unknown = [o for o in self.on if o not in ALERTS_ON]
        if unknown:
            reason = f"unknown outcome {unknown[0]!r} (choose from {', '.join(ALERTS_ON)})"
            raise ConfigError("alerts_on", reason)
        if not slow_factor > 1:
            raise ConfigError("slow_factor", f"must be greater than 1, not {slow_factor!r}")
        if slow_min_runs < 1:
            raise ConfigError("slow_min_runs", f"must be at least 1, not {slow_min_runs!r}")
        if window < 0:
            raise ConfigError("alert_window", f"must be >= 0 seconds, not {window!r}")
        self.name = name
        self.slow_factor = slow_factor
        self.slow_min_runs = slow_min_runs
        self._resume_hint = resume_hint
        self._run = run
        self._events = events
        self._runs = runs
        self._ended = False
        listed = (urls,) if isinstance(urls, str) else tuple(urls or ())
        self._handler: AlertHandler | None = None
        if listed and self.on:
            logger = events.logger
            state = None if logger is None else logger.log_dir / _STATE_FILE
            self._handler = _handler(listed, window, state)

    @property
    def endpoints(self) -> list[str]:
        """The alert URLs, redacted (empty when alerts are off)."""
        return [] if self._handler is None else list(self._handler.urls)

    def run_ended(self, error: BaseException | None, *, closed: bool = False) -> None:
        """Notify about the run that just ended, if its outcome asks for it (once per run;
        before the run started, nothing). Never raises.

        Args:
            error: The exception that ended ``with pipeline:``, if any.
            closed: The run was ended by ``close()`` without ``with pipeline:``: like the run
                record, a stage that failed in it makes it a failed run.
        """
        if self._handler is None or self._ended or self._run.start_time is None:
            return
        self._ended = True
        try:
            self._notify(error, closed=closed)
        except Exception:  # an alert must never take the pipeline down
            _log.warning(
                "could not queue the alert of run %s", self._run.pipeline_id, exc_info=True
            )

    def _notify(self, error: BaseException | None, *, closed: bool) -> None:
        assert self._handler is not None and self._run.start_time is not None
        duration = time.perf_counter() - self._run.start_time
        failed = error is not None or self._run.has_failed_stage()
        failed = failed or (closed and self._run.last_failure is not None)
        message: tuple[str, str, str, str | None] | None = None
        if failed:
            if "failure" in self.on:
                message = self._failure(error, duration)
        elif "slow" in self.on and (slow := self._slow(duration)) is not None:
            message = slow
        elif "success" in self.on:
            title = f"{self.name}: run completed in {_seconds(duration)}"
            message = ("success", title, self._facts("complete", duration), None)
        if message is None:
            return
        outcome, title, body, key = message
        pipeline_id = self._run.pipeline_id
        self._events.event(
            "alert_queued",
            pipeline_id,
            None,
            "info",
            {"outcome": outcome, "endpoints": self.endpoints},
        )
        kind = {"failure": "failure", "slow": "warning"}.get(outcome, "success")
        done = self._reporter()
        if not self._handler.send_alert(
            _clip(title, _TITLE_LENGTH), body, kind=kind, key=key, on_done=done
        ):
            done([])  # refused (queue full: reported by the handler); release what it holds

    # -- messages ------------------------------------------------------------------------------

    def _facts(self, status: str, duration: float) -> str:
        attempt = self._run.attempt
        lines = [
            f"Pipeline: {self.name}",
            f"Run: {self._run.pipeline_id}",
            f"Status: {status}",
            f"Duration: {_seconds(duration)}"
            + (f" (attempt {attempt}; resumed)" if self._run.resumed else ""),
            f"Host: {socket.gethostname()} (pid {os.getpid()})",
        ]
        logger = self._events.logger
        if logger is not None:
            lines.append(f"Logs: {logger.log_dir}")
        return "\n".join(lines)

    def _failure(
        self, error: BaseException | None, duration: float
    ) -> tuple[str, str, str, str | None]:
        record = self._run.record_json()
        failure = (record or {}).get("error") or self._run.last_failure
        if failure is None:
            failure = describe_error(error) | {"stage": None} if error is not None else {}
        stage = failure.get("stage")
        error_type = str(failure.get("type") or "unknown error")
        text = _clip(str(failure.get("message") or ""), _MESSAGE_LENGTH)
        where = f"in stage {stage}" if stage else "outside any stage"
        title = f"{self.name}: run failed {where}: {error_type}: {text}"
        body = "\n".join(
            [
                self._facts("failed", duration),
                f"Failed stage: {stage or '(outside any stage)'}",
                f"Error: {error_type}: {text}",
                f"Resume: {self._resume()}",
            ]
        )
        key = json.dumps(["pipeline failure", self.name, stage, error_type, text])
        return "failure", title, body, key

    def _resume(self) -> str:
        pipeline_id = self._run.pipeline_id
        hint = self._resume_hint
        if callable(hint):
            try:
                return str(hint(pipeline_id))
            except Exception:  # a broken hint must not cost the alert
                _log.warning("resume_hint raised; the alert gives the default", exc_info=True)
        elif hint is not None:
            return hint
        if self._runs is None:
            return "checkpoints are disabled: nothing to resume; run the pipeline again"
        return (
            f"Pipeline({self.name!r}, pipeline_id={pipeline_id!r}) continues this run; "
            f"Pipeline({self.name!r}, resume=True) continues the latest unfinished one"
        )

    def _slow(self, duration: float) -> tuple[str, str, str, str | None] | None:
        """The "slow" alert, when this run took over ``slow_factor`` times the median of the last
        completed single-attempt runs (and there are at least ``slow_min_runs`` of them)."""
        if self._runs is None:
            return None
        past: list[float] = []
        for record in self._runs.latest(self.name, SLOW_HISTORY * 3):
            if record.pipeline_id == self._run.pipeline_id or record.status != "complete":
                continue
            if record.attempts != 1 or not record.finished_at:
                continue
            try:
                started = datetime.fromisoformat(record.started_at)
                finished = datetime.fromisoformat(record.finished_at)
            except ValueError:
                continue
            past.append((finished - started).total_seconds())
            if len(past) == SLOW_HISTORY:
                break
        if len(past) < self.slow_min_runs:
            return None
        median = statistics.median(past)
        if duration <= self.slow_factor * median:
            return None
        ratio = duration / median if median > 0 else float("inf")
        title = (
            f"{self.name}: run took {_seconds(duration)}, {ratio:.1f}x the median "
            f"{_seconds(median)} of its last {len(past)} runs"
        )
        body = self._facts("complete (slow)", duration) + (
            f"\nMedian of the last {len(past)} completed runs: {_seconds(median)}"
            f"\nThreshold: {self.slow_factor:g}x the median"
        )
        return "slow", title, body, None

    # -- delivery problems ---------------------------------------------------------------------

    def _reporter(self) -> Callable[[list[str]], None]:
        """``on_done`` of the alert: report delivery problems as ``alert_failed`` events.

        The run's log directory stays attached until the alert is settled (a
        ``PipelineLogger`` of the same directory is held), so the report reaches pipeline.log
        and events.log even when the pipeline was closed meanwhile.
        """
        pipeline_id = self._run.pipeline_id
        logger = self._events.logger
        held = None
        if logger is not None:
            from logging_ext import PipelineLogger

            held = PipelineLogger(logger.log_dir, level=logger.level, configure_root=False)

        def done(problems: list[str]) -> None:
            try:
                for problem in problems:
                    if held is None:
                        _log.warning("%s", problem, extra={"pipeline_id": pipeline_id})
                    else:
                        metadata = {"problem": problem}
                        held.log_event("alert_failed", pipeline_id, None, "warning", metadata)
            finally:
                if held is not None:
                    held.close()

        return done
