"""Delivering alerts through Apprise, off the caller's thread, never blocking or raising.

A :class:`Courier` owns a bounded queue, a dispatcher thread and one sender thread per endpoint,
all started with the first alert (threads cannot be started once the interpreter is exiting,
when queued alerts still have to go out). The dispatcher applies the rate limit and hands each
alert to every sender at once, so a slow endpoint delays no other. A send is bounded by
``timeout``: Apprise's connect and read timeouts of the endpoint are set to it. A failed send is
tried again ``retries`` times, after ``retry_delay``, then twice that, ... An endpoint that
still fails is reported once — a warning on the ``logging_ext.alerts`` logger, or through the
alert's ``on_done`` callback — and not again until it has delivered an alert.

Apprise's own log records of these sends are captured (their text, with known secrets removed,
becomes the reason in the report) and not passed on, so a dead endpoint is reported once, not
once per attempt; records of Apprise and urllib3 from elsewhere are passed on with the secrets
of every configured URL replaced by ``****``.

At interpreter exit, queued alerts get a grace period (the longest ``exit_grace`` of the live
couriers, shared by all of them) before the process ends.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import logging
import os
import queue
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from logging_ext._alert_window import Admission
from logging_ext._redact import redact_url, scrub, secret_parts

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from types import ModuleType

    from logging_ext._alert_window import AlertWindow

__all__: list[str] = []

REPORT_LOGGER = "logging_ext.alerts"
_GUARDED_LOGGERS = ("apprise", "urllib3.connectionpool")
# Set in the threads of every courier: records they emit never become alerts; in the threads
# that call Apprise it also holds the list capturing Apprise's messages.
_ON_COURIER: contextvars.ContextVar[bool] = contextvars.ContextVar("on_courier", default=False)
_CAPTURE: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "alert_capture", default=None
)


def load_apprise() -> ModuleType:
    """The ``apprise`` module.

    Raises:
        ImportError: Apprise is not installed (the message names the extra to install).
    """
    try:
        import apprise
    except ImportError as exc:
        msg = "alerts are sent through Apprise: pip install 'stagepoint[alerts]'"
        raise ImportError(msg, name="apprise") from exc
    return apprise


def on_courier_thread() -> bool:
    """Whether the calling thread belongs to a courier (its records must not become alerts)."""
    return _ON_COURIER.get()


class _ThirdPartyPrivacy(logging.Filter):
    """On Apprise's and urllib3's loggers: capture-and-drop our sends' records, scrub others."""

    def __init__(self) -> None:
        super().__init__("")
        self.secrets: frozenset[str] = frozenset()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed third-party record: nothing of ours to protect in it
            return _CAPTURE.get() is None
        captured = _CAPTURE.get()
        if captured is not None:
            if record.levelno >= logging.WARNING:
                captured.append(scrub(message, self.secrets))
            return False
        clean = scrub(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


_PRIVACY = _ThirdPartyPrivacy()
_PRIVACY_LOCK = threading.Lock()


def guard_third_party_logs(secrets: Iterable[str] = ()) -> None:
    """Put the privacy filter on Apprise's and urllib3's loggers (again, if it was removed)."""
    with _PRIVACY_LOCK:
        _PRIVACY.secrets = _PRIVACY.secrets | frozenset(secrets)
        for name in _GUARDED_LOGGERS:
            logger = logging.getLogger(name)
            if _PRIVACY not in logger.filters:
                logger.addFilter(_PRIVACY)


@dataclass(eq=False)
class Endpoint:
    """One notification URL: how it may be shown, and the Apprise object that sends to it."""

    shown: str
    service: Any  # the Apprise plugin object of the URL
    failing: bool = False  # a failure was reported; no delivery since


def build_endpoint(url: str, *, timeout: float) -> Endpoint | str:
    """An :class:`Endpoint` for ``url``, or why Apprise refuses it (secrets removed)."""
    apprise = load_apprise()
    guard_third_party_logs(secret_parts(url))
    captured: list[str] = []
    token = _CAPTURE.set(captured)
    try:
        plugin = apprise.Apprise.instantiate(url)
    finally:
        _CAPTURE.reset(token)
    if plugin is None:
        return "; ".join(captured) or "Apprise does not recognise this URL"
    plugin.socket_connect_timeout = timeout
    plugin.socket_read_timeout = timeout
    # The service's own notify() sends in the calling thread: no executor (Apprise's refuses
    # work once the interpreter starts exiting), and its log records are ours to capture.
    return Endpoint(redact_url(url), plugin)


@dataclass(frozen=True)
class Alert:
    """One queued alert.

    Attributes:
        title: The notification's title.
        body: Its text.
        kind: ``"failure"``, ``"warning"``, ``"success"`` or ``"info"`` (Apprise's types).
        key: De-duplication key (``None``: never suppressed).
        on_done: Called on the courier's thread once the alert is settled, with the delivery
            problems to report (empty when delivered, suppressed, or already reported).
        context: ``pipeline_id``/``stage`` stamped on the warning that reports a problem.
        created: When it happened (seconds since the epoch): the rate limit's clock.
    """

    title: str
    body: str
    kind: str = "failure"
    key: str | None = None
    on_done: Callable[[list[str]], None] | None = None
    context: dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=time.time)


class _Delivery:
    """One alert on its way to every endpoint; settled when the last sender is done with it."""

    def __init__(self, alert: Alert, body: str, senders: int) -> None:
        self.alert = alert
        self.body = body
        self.problems: list[str] = []
        self._left = senders
        self._lock = threading.Lock()

    def done(self, problem: str | None) -> bool:
        """Note one sender's result; whether this was the last one."""
        with self._lock:
            if problem is not None:
                self.problems.append(problem)
            self._left -= 1
            return self._left == 0


class Courier:
    """The queue and threads of one alert handler (thread safe; never raises to callers).

    Args:
        endpoints: Where every alert goes.
        window: The rate limit / de-duplication state.
        timeout: Seconds one send to one endpoint may take (Apprise's socket timeouts).
        retries: Further attempts for an endpoint whose send failed.
        retry_delay: Seconds before the first retry (doubled for each further one).
        exit_grace: Seconds queued alerts may delay interpreter exit.
        queue_size: Alerts that may wait; further ones are dropped (and that is reported once).
    """

    def __init__(
        self,
        endpoints: list[Endpoint],
        window: AlertWindow,
        *,
        timeout: float,
        retries: int,
        retry_delay: float,
        exit_grace: float,
        queue_size: int,
    ) -> None:
        self.endpoints = endpoints
        self.window = window
        self.timeout = timeout
        self.retries = retries
        self.retry_delay = retry_delay
        self.exit_grace = exit_grace
        self._queue_size = queue_size
        self._closed = False
        self._reset()
        _LIVE.add(self)

    def _reset(self) -> None:
        """Fresh queues, locks and no threads: at creation, and in a forked child, which
        inherits none of the parent's threads and perhaps a lock one of them held."""
        self._queue: queue.Queue[Alert | None] = queue.Queue(maxsize=self._queue_size)
        self._inboxes: list[queue.Queue[_Delivery | None]] = [queue.Queue() for _ in self.endpoints]
        self._started = False
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._dropped = 0
        self.window.after_fork()

    def _start(self) -> None:
        """Start the dispatcher and the senders (under the lock, once)."""
        workers: list[tuple[Callable[..., None], tuple[Any, ...]]] = [(self._dispatch, ())]
        workers += [(self._serve, pair) for pair in zip(self.endpoints, self._inboxes, strict=True)]
        for target, args in workers:
            threading.Thread(
                target=contextvars.Context().run,
                args=(target, *args),
                name="logging_ext-alerts",
                daemon=True,
            ).start()
        self._started = True

    def submit(self, alert: Alert) -> bool:
        """Queue ``alert`` without waiting; ``False`` when closed or the queue is full."""
        with self._lock:
            if self._closed:
                return False
            if not self._started:
                self._start()
            try:
                self._queue.put_nowait(alert)
            except queue.Full:
                self._dropped += 1
                first = self._dropped == 1
            else:
                self._pending += 1
                return True
        if first:
            logging.getLogger(REPORT_LOGGER).warning(
                "alert queue full (%d alerts waiting): further alerts are dropped until it drains",
                self._queue.maxsize,
            )
        return False

    def wait(self, timeout: float) -> bool:
        """Wait until every queued alert is settled, at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self, grace: float) -> None:
        """Refuse new alerts, give queued ones ``grace`` seconds, then stop the threads."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.wait(grace)
        with contextlib.suppress(queue.Full):  # full: the threads are stuck; they are daemons
            self._queue.put_nowait(None)
        _LIVE.discard(self)

    # -- the threads ---------------------------------------------------------------------------

    def _dispatch(self) -> None:
        """Apply the rate limit and hand each alert to every sender."""
        _ON_COURIER.set(True)
        while (alert := self._queue.get()) is not None:
            try:
                guard_third_party_logs()
                admission = self.window.admit(alert.key, alert.created)
            except Exception:  # never let one alert stop the dispatcher
                logging.getLogger(REPORT_LOGGER).warning("alert rate limit failed", exc_info=True)
                admission = Admission(send=True)
            if not admission.send:
                self._settle(_Delivery(alert, alert.body, 0))
                continue
            body = alert.body
            if admission.suppressed:
                since = time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(admission.since))
                body += (
                    f"\n\n(The same alert was suppressed {admission.suppressed} more time"
                    f"{'s' if admission.suppressed > 1 else ''} since {since}.)"
                )
            delivery = _Delivery(alert, body, len(self._inboxes))
            for inbox in self._inboxes:
                inbox.put(delivery)
        for inbox in self._inboxes:
            inbox.put(None)

    def _serve(self, endpoint: Endpoint, inbox: queue.Queue[_Delivery | None]) -> None:
        """Send every delivery to ``endpoint``, retrying; the last sender settles it."""
        _ON_COURIER.set(True)
        while (delivery := inbox.get()) is not None:
            try:
                problem = self._deliver(endpoint, delivery)
            except Exception as exc:  # a plugin's own bug must not stop the sender
                problem = scrub(f"alert to {endpoint.shown} failed: {exc!r}", _PRIVACY.secrets)
            if delivery.done(problem):
                self._settle(delivery)

    def _deliver(self, endpoint: Endpoint, delivery: _Delivery) -> str | None:
        """Send with retries; the problem to report (``None``: delivered or already reported)."""
        tries = self.retries + 1
        for attempt in range(tries):
            if attempt:
                time.sleep(self.retry_delay * 2 ** (attempt - 1))
            problem = _send(endpoint, delivery.alert, delivery.body)
            if problem is None:
                endpoint.failing = False
                return None
        if endpoint.failing:
            return None
        endpoint.failing = True
        return (
            f"alert to {endpoint.shown} failed after {tries} attempt{'s' * (tries > 1)}: "
            f"{problem}; further failures of this endpoint are not reported until it delivers "
            "again"
        )

    def _settle(self, delivery: _Delivery) -> None:
        """Report the delivery's problems (or hand them to ``on_done``); one alert less."""
        alert = delivery.alert
        try:
            if alert.on_done is not None:
                alert.on_done(delivery.problems)
            else:
                for problem in delivery.problems:
                    logging.getLogger(REPORT_LOGGER).warning(problem, extra=alert.context)
        except Exception:  # the callback's own failure must not stop a thread
            logging.getLogger(REPORT_LOGGER).warning("alert callback failed", exc_info=True)
        finally:
            with self._idle:
                self._pending -= 1
                if self._dropped and not self._pending:
                    self._dropped = 0
                self._idle.notify_all()


def _send(endpoint: Endpoint, alert: Alert, body: str) -> str | None:
    """One send of ``alert`` to ``endpoint``: ``None`` when delivered, else the problem."""
    captured: list[str] = []
    token = _CAPTURE.set(captured)
    try:
        delivered = bool(
            endpoint.service.notify(body=body, title=alert.title, notify_type=alert.kind)
        )
    except Exception as exc:  # a plugin's own bug must not take the sender down
        return scrub(f"{type(exc).__name__}: {exc}", _PRIVACY.secrets)
    finally:
        _CAPTURE.reset(token)
    return None if delivered else (captured[-1] if captured else "the service refused it")


# -- interpreter exit and fork ---------------------------------------------------------------------

_LIVE: weakref.WeakSet[Courier] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """A forked child starts its own threads with its first alert; the parent's queued ones
    stay the parent's."""
    for courier in list(_LIVE):
        courier._reset()


os.register_at_fork(after_in_child=_after_fork_in_child)


@atexit.register
def _drain_at_exit() -> None:
    """Give queued alerts the longest ``exit_grace`` of the live couriers, shared by all."""
    couriers = list(_LIVE)
    if not couriers:
        return
    deadline = time.monotonic() + max(c.exit_grace for c in couriers)
    for courier in couriers:
        courier.wait(max(0.0, deadline - time.monotonic()))
        courier.exit_grace = 0.0  # logging.shutdown's close() must not wait again
