"""Real local servers that receive alerts: a JSON webhook (HTTP) and a mailbox (SMTP).

Both bind 127.0.0.1 only and run in threads of the test process.
"""

from __future__ import annotations

import json
import queue
import socket
import threading
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on (closed again at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Webhook:
    """An HTTP server receiving Apprise's generic JSON webhook (``json://127.0.0.1:PORT/...``).

    Every POST is parsed and put on :attr:`received` as ``{"path", "headers", "json"}``. With
    ``gate``, the server holds each answer until the gate is set or ``hold`` seconds have
    passed (a slow endpoint), then appends ``"answered"`` to ``order``. :attr:`status` is the
    HTTP status it answers (it may be changed while the server runs).
    """

    def __init__(
        self,
        *,
        status: int = 200,
        gate: threading.Event | None = None,
        hold: float = 5.0,
        order: list[str] | None = None,
    ) -> None:
        self.received: queue.Queue[dict[str, Any]] = queue.Queue()
        self.status = status
        self.holding = threading.Event()  # a request is being held at the gate
        self.order = order if order is not None else []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                outer.received.put(
                    {"path": self.path, "headers": dict(self.headers), "json": json.loads(body)}
                )
                if gate is not None:
                    outer.holding.set()
                    gate.wait(hold)
                    outer.order.append("answered")
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str = "hook", *, auth: str = "") -> str:
        """The Apprise URL of this server (``auth`` is ``user:password``)."""
        return f"json://{auth + '@' if auth else ''}127.0.0.1:{self.port}/{path}"

    def next(self, timeout: float = 60.0) -> dict[str, Any]:
        """The next request received (waits up to ``timeout`` seconds)."""
        return self.received.get(timeout=timeout)

    def all(self) -> list[dict[str, Any]]:
        """Every request received and not yet taken."""
        found = []
        while not self.received.empty():
            found.append(self.received.get_nowait())
        return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    """An SMTP server (aiosmtpd) on 127.0.0.1 checking plain-text AUTH LOGIN/PLAIN (no TLS).

    Messages are put on :attr:`received` as parsed :class:`email.message.Message` objects;
    the user of every successful login is appended to :attr:`logins`.
    """

    def __init__(self, *, user: str, password: str) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        self.received: queue.Queue[Message] = queue.Queue()
        self.logins: list[str] = []
        mailbox = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                mailbox.received.put(message_from_bytes(envelope.content))
                return "250 Message accepted"

        def authenticator(
            server: Any, session: Any, envelope: Any, mechanism: str, data: Any
        ) -> AuthResult:
            ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
                user.encode(),
                password.encode(),
            )
            if ok:
                self.logins.append(user)
            return AuthResult(success=ok)

        self.port = free_port()
        self.controller = Controller(
            Handler(),
            hostname="127.0.0.1",
            port=self.port,
            authenticator=authenticator,
            auth_require_tls=False,
        )
        self.controller.start()

    def url(self, *, user: str, password: str) -> str:
        """The Apprise ``mailto://`` URL for plain SMTP on this port (no TLS)."""
        return (
            f"mailto://{user}:{password}@127.0.0.1:{self.port}"
            "?from=alerts@example.com&to=ops@example.com"
        )

    def next(self, timeout: float = 60.0) -> Message:
        return self.received.get(timeout=timeout)

    def close(self) -> None:
        self.controller.stop()
