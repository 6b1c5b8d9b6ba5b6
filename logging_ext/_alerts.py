"""``AlertHandler``: log records (and pipeline outcomes) as notifications through Apprise.

Slack, e-mail, Microsoft Teams, Discord, PagerDuty, generic JSON or form webhooks and about a
hundred other services are reached through Apprise URLs (the optional extra
``stagepoint[alerts]``). Apprise is imported when the first handler is created, never by
``import logging_ext``.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import TYPE_CHECKING, Any

from logging_ext._alert_delivery import (
    REPORT_LOGGER,
    Alert,
    Courier,
    Endpoint,
    build_endpoint,
    on_courier_thread,
)
from logging_ext._alert_window import AlertWindow
from logging_ext._errors import InvalidHandlerArgumentError
from logging_ext._redact import redact_url

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterable

__all__ = ["AlertHandler"]

ALERT_KINDS = ("failure", "warning", "success", "info")
_IGNORED_LOGGERS = (REPORT_LOGGER, "apprise", "urllib3")
_RUN_ID = re.compile(r"^(?P<name>.+)_\d{8}_\d{6}_[0-9a-f]{18}$")  # <name>_<date>_<time>_<suffix>
_TITLE_LENGTH = 200


class AlertHandler(logging.Handler):
    """Send records at ``level`` and above as notifications, without ever blocking the caller.

    ``emit`` formats the record and queues it; one worker thread per handler sends it to every
    URL at once, gives each send ``timeout`` seconds and retries a failed one ``retries``
    times. A dead, slow or failing endpoint is reported once — a warning on the
    ``logging_ext.alerts`` logger, whose records this handler never sends — and not again until
    it delivers; nothing is ever raised into the code that logged. At interpreter exit, queued
    alerts get up to ``exit_grace`` seconds; :meth:`close` gives them the same.

    The same alert (same logger, pipeline name, stage, error type and message) is sent once per
    ``window`` seconds; the repeats in between are counted and the count is added to the next
    one sent. With ``state_file``, processes naming the same file share that window (a job
    started by cron every five minutes then alerts once per window, not once per run).

    URLs never appear in what this handler logs or raises: they are shown redacted (see
    :func:`logging_ext.redact_url`), and Apprise's own log records about them have the secrets
    replaced by ``****``.

    Everything comes through the constructor, so :func:`logging.config.dictConfig` builds it::

        "handlers": {"alerts": {"class": "logging_ext.AlertHandler", "level": "ERROR",
                                "urls": ["slack://T000/B000/XXXX"], "window": 600}}

    Args:
        urls: One Apprise URL or several (``slack://...``, ``mailto://...``,
            ``json://host:port/path``, ...).
        level: The lowest level sent (a number or a name).
        timeout: Seconds one send to one URL may take before it counts as failed.
        retries: Further attempts for a URL whose send failed (0: none).
        retry_delay: Seconds before the first retry; each further retry waits twice as long.
        window: Seconds during which repeats of an alert are suppressed (0: never).
        state_file: A JSON file holding the window's state, shared by processes; ``None``
            keeps it in this process's memory.
        exit_grace: Seconds queued alerts may delay interpreter exit (or :meth:`close`).
        queue_size: Alerts that may wait to be sent; beyond that they are dropped, and that
            is reported once.

    Raises:
        ImportError: Apprise is not installed (``pip install 'stagepoint[alerts]'``).
        InvalidHandlerArgumentError: No URL, a URL Apprise does not recognise (shown
            redacted), or a negative number.
    """

    def __init__(
        self,
        urls: str | Iterable[str],
        level: int | str = logging.ERROR,
        *,
        timeout: float = 10.0,
        retries: int = 2,
        retry_delay: float = 1.0,
        window: float = 900.0,
        state_file: str | os.PathLike[str] | None = None,
        exit_grace: float = 5.0,
        queue_size: int = 1000,
    ) -> None:
        numbers = {
            "timeout": timeout,
            "retries": retries,
            "retry_delay": retry_delay,
            "window": window,
            "exit_grace": exit_grace,
        }
        for argument, value in numbers.items():
            if value < 0:
                raise InvalidHandlerArgumentError(argument, value, "must be >= 0")
        if timeout <= 0:
            raise InvalidHandlerArgumentError("timeout", timeout, "must be > 0")
        if queue_size < 1:
            raise InvalidHandlerArgumentError("queue_size", queue_size, "must be >= 1")
        listed = [urls] if isinstance(urls, str) else list(urls)
        if not listed:
            raise InvalidHandlerArgumentError("urls", [], "give at least one Apprise URL")
        endpoints: list[Endpoint] = []
        for url in listed:
            built = build_endpoint(url, timeout=timeout)
            if isinstance(built, str):
                raise InvalidHandlerArgumentError("urls", redact_url(url), built)
            endpoints.append(built)
        super().__init__(level)
        self.urls = [e.shown for e in endpoints]
        self._courier = Courier(
            endpoints,
            AlertWindow(window, state_file),
            timeout=timeout,
            retries=retries,
            retry_delay=retry_delay,
            exit_grace=exit_grace,
            queue_size=queue_size,
        )

    def __repr__(self) -> str:
        level = logging.getLevelName(self.level)
        return f"<AlertHandler {', '.join(self.urls)} ({level})>"

    # -- records -------------------------------------------------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        """Queue ``record`` as an alert (never blocks; failures go to ``handleError``).

        Records of the ``logging_ext.alerts``, ``apprise`` and ``urllib3`` loggers, and any
        record logged on an alert worker's thread, are ignored: an alert about an alert would
        loop.
        """
        if record.name.startswith(_IGNORED_LOGGERS) or on_courier_thread():
            return
        try:
            title, body = self.describe(record)
            context: dict[str, Any] = {
                k: record.__dict__[k] for k in ("pipeline_id", "stage") if k in record.__dict__
            }
            kind = "failure" if record.levelno >= logging.ERROR else "warning"
            if record.levelno < logging.WARNING:
                kind = "info"
            alert = Alert(title, body, kind, self.alert_key(record), None, context, record.created)
        except Exception:
            self.handleError(record)
            return
        self._courier.submit(alert)

    def describe(self, record: logging.LogRecord) -> tuple[str, str]:
        """The title and text of the notification for ``record``.

        The text is the record formatted by this handler's formatter when one is set;
        otherwise the logger, level, time, pipeline run, stage, message, event metadata and
        traceback, one per line. Override to change both.
        """
        attributes = record.__dict__
        error_type, error = _error_of(record)
        summary = str(attributes.get("event_type") or record.getMessage()).splitlines()[0:1]
        title = f"{record.levelname}: {summary[0] if summary else ''}"
        if error_type:
            title += f": {error_type}: {error}"
        where = [str(attributes[k]) for k in ("pipeline_id", "stage") if attributes.get(k)]
        if where:
            title += f" ({' / '.join(where)})"
        if len(title) > _TITLE_LENGTH:
            title = title[: _TITLE_LENGTH - 1] + "…"
        if self.formatter is not None:
            return title, self.format(record)
        lines = [
            f"logger: {record.name}",
            f"level: {record.levelname}",
            f"time: {time.strftime('%Y-%m-%d %H:%M:%S %z', time.localtime(record.created))}",
        ]
        lines += [f"{k}: {attributes[k]}" for k in ("pipeline_id", "stage") if attributes.get(k)]
        lines.append(f"message: {record.getMessage()}")
        metadata = attributes.get("metadata")
        if isinstance(metadata, dict) and metadata:
            lines.append("metadata: " + json.dumps(metadata, default=str, sort_keys=True))
        if record.exc_info:
            lines += ["", logging.Formatter().formatException(record.exc_info)]
        elif record.exc_text:
            lines += ["", record.exc_text]
        return title, "\n".join(lines)

    def alert_key(self, record: logging.LogRecord) -> str:
        """The de-duplication key of ``record``: logger, pipeline name, stage, error type and
        message (the pipeline name, not the run id, so failures of successive runs match)."""
        attributes = record.__dict__
        run = str(attributes.get("pipeline_id") or "")
        match = _RUN_ID.match(run)
        error_type, error = _error_of(record)
        message = error if error_type else record.getMessage()
        parts = [record.name, match["name"] if match else run, attributes.get("stage")]
        return json.dumps([*parts, error_type or record.levelname, message], default=str)

    # -- direct alerts -------------------------------------------------------------------------

    def send_alert(
        self,
        title: str,
        body: str,
        *,
        kind: str = "failure",
        key: str | None = None,
        on_done: Callable[[list[str]], None] | None = None,
    ) -> bool:
        """Queue a notification that is not a log record (never blocks, never raises).

        Args:
            title: Its title.
            body: Its text.
            kind: ``"failure"``, ``"warning"``, ``"success"`` or ``"info"``.
            key: De-duplication key: alerts of the same key are sent once per ``window``.
                ``None`` (the default) is never suppressed.
            on_done: Called once the alert is settled (delivered, given up or suppressed),
                on the worker's thread, with the delivery problems to report; when given,
                the handler does not log them itself. It must not block.

        Returns:
            Whether the alert was queued (``False`` after :meth:`close` or when the queue is
            full).
        """
        if kind not in ALERT_KINDS:
            kind = "info"
        return self._courier.submit(Alert(title, body, kind, key, on_done))

    def wait(self, timeout: float) -> bool:
        """Wait until every queued alert is settled, at most ``timeout`` seconds.

        Returns:
            Whether the queue is empty.
        """
        return self._courier.wait(timeout)

    def close(self) -> None:
        """Refuse new alerts and give the queued ones up to ``exit_grace`` seconds."""
        self._courier.close(self._courier.exit_grace)
        super().close()


def _error_of(record: logging.LogRecord) -> tuple[str | None, str | None]:
    """``(type name, message)`` of the record's exception or pipeline error event."""
    if record.exc_info and record.exc_info[0] is not None:
        exc = record.exc_info[1]
        try:
            message = str(exc)
        except Exception:  # the exception's own __str__ may fail
            message = "<message unavailable>"
        return record.exc_info[0].__name__, message
    metadata = record.__dict__.get("metadata")
    if isinstance(metadata, dict) and metadata.get("error_type"):
        return str(metadata["error_type"]), str(metadata.get("error", ""))
    return None, None
