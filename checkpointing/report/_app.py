"""The local, read-only dashboard: an ASGI application on Starlette (``stagepoint[ui]``).

Pages: the runs (filter by name and status), a run (its report, refreshing while the run is
live), its checkpoints (details, and a diff of two), its events (filter by type, stage and
level). JSON: ``/api/runs`` and ``/api/runs/{id}``. Only GET and HEAD are answered; nothing is
ever written. Every path parameter is checked as a name (nothing can reach outside the store
or the log directory) and every query parameter against its allowed values and a length limit;
a bad one gets 400, an unknown id 404. Only requests whose ``Host`` is one of
``allowed_hosts`` are served, so a web page cannot reach the dashboard by rebinding a name of
its own to 127.0.0.1.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checkpointing._errors import (
    AmbiguousIdError,
    CheckpointError,
    CheckpointNotFoundError,
    InvalidNameError,
    RunNotFoundError,
)
from checkpointing.pipeline._run_model import RUN_STATUSES
from checkpointing.pipeline._run_query import (
    get_run,
    list_runs,
    resolve_checkpoint_id,
    run_events,
)
from checkpointing.report._render import assets, context, environment
from checkpointing.storage._names import validate_name
from checkpointing.store._diff import diff_checkpoints
from checkpointing.store._manager import CheckpointManager

if TYPE_CHECKING:
    from collections.abc import Iterable

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

__all__: list[str] = []

MAX_PARAM = 200  # characters of any query parameter
MAX_EVENTS = 5000  # events shown on one page (the newest)
LEVELS = ("success", "info", "warning", "error")
REFRESH_SECONDS = 5


class BadRequest(ValueError):
    """A request parameter that is refused (answered with 400)."""


def _param(request: Request, name: str, *, choices: Iterable[str] | None = None) -> str | None:
    values = request.query_params.getlist(name)
    if not values or values[-1] == "":
        return None
    if len(values) > 1:
        raise BadRequest(f"parameter {name!r} was given {len(values)} times")
    value = values[0]
    if len(value) > MAX_PARAM:
        raise BadRequest(f"parameter {name!r} is longer than {MAX_PARAM} characters")
    if choices is not None and value not in choices:
        raise BadRequest(f"parameter {name!r} must be one of {', '.join(choices)}")
    return value


def _name(request: Request, key: str) -> str:
    value = str(request.path_params[key])
    if len(value) > MAX_PARAM:
        raise BadRequest(f"{key} is longer than {MAX_PARAM} characters")
    try:
        return validate_name(value, what=key)
    except InvalidNameError as exc:
        raise BadRequest(str(exc)) from exc


class Dashboard:
    """The pages and endpoints, over one checkpoint directory and one log directory."""

    def __init__(self, checkpoint_dir: str, log_dir: Path) -> None:
        self.checkpoint_dir = checkpoint_dir
        self.log_dir = log_dir
        self.manager = CheckpointManager(checkpoint_dir)

    def _dirs(self) -> dict[str, str | Path]:
        return {"checkpoint_dir": self.checkpoint_dir, "log_dir": self.log_dir}

    def page(self, template: str, status_code: int = 200, **values: Any) -> Response:
        from starlette.responses import HTMLResponse

        values.setdefault("refresh", 0)
        html = (
            environment().get_template(template).render(assets=assets(), standalone=False, **values)
        )
        return HTMLResponse(html, status_code=status_code)

    # -- runs ---------------------------------------------------------------------------------

    def _runs(self, request: Request) -> list[Any]:
        name = _param(request, "name")
        status = _param(request, "status", choices=RUN_STATUSES)
        return list_runs(
            checkpoint_dir=self.checkpoint_dir, log_dir=self.log_dir, name=name, status=status
        )

    def runs(self, request: Request) -> Response:
        runs = self._runs(request)
        return self.page(
            "runs.html.j2",
            runs=runs,
            name=_param(request, "name") or "",
            status=_param(request, "status") or "",
            run_statuses=RUN_STATUSES,
        )

    def run(self, request: Request) -> Response:
        run = get_run(_name(request, "pipeline_id"), **self._dirs())
        checkpoints = self.manager.list_checkpoints(run.pipeline_id)
        refresh = REFRESH_SECONDS if run.status == "running" else 0
        return self.page("run.html.j2", refresh=refresh, **context(run, checkpoints=checkpoints))

    def api_runs(self, request: Request) -> Response:
        from starlette.responses import JSONResponse

        return JSONResponse([r.to_json(executions=False) for r in self._runs(request)])

    def api_run(self, request: Request) -> Response:
        from starlette.responses import JSONResponse

        run = get_run(_name(request, "pipeline_id"), **self._dirs())
        return JSONResponse(run.to_json())

    # -- checkpoints --------------------------------------------------------------------------

    def checkpoints(self, request: Request) -> Response:
        run = get_run(_name(request, "pipeline_id"), **self._dirs())
        found = self.manager.list_checkpoints(run.pipeline_id)
        a, b = _param(request, "a"), _param(request, "b")
        diff = None
        if a and b:
            ids = [resolve_checkpoint_id(self.manager, validate_name(i)) for i in (a, b)]
            diff = diff_checkpoints(self.manager, *ids)
        return self.page(
            "checkpoints.html.j2", run=run, checkpoints=found, a=a or "", b=b or "", diff=diff
        )

    def checkpoint(self, request: Request) -> Response:
        checkpoint_id = resolve_checkpoint_id(self.manager, _name(request, "checkpoint_id"))
        state = self.manager.get_state(checkpoint_id)
        shown = {
            k: json.dumps(v, indent=1) if isinstance(v, dict | list) else v
            for k, v in state.items()
        }
        return self.page("checkpoint.html.j2", checkpoint_id=checkpoint_id, state=shown)

    # -- events -------------------------------------------------------------------------------

    def events(self, request: Request) -> Response:
        run = get_run(_name(request, "pipeline_id"), **self._dirs())
        kind = _param(request, "type")
        stage = _param(request, "stage")
        level = _param(request, "level", choices=LEVELS)
        found = run_events(run.pipeline_id, log_dir=self.log_dir)
        types = sorted({str(e.get("event_type")) for e in found})
        stages = sorted({str(e.get("stage")) for e in found if e.get("stage") is not None})
        found = [
            e
            for e in found
            if (kind is None or e.get("event_type") == kind)
            and (stage is None or e.get("stage") == stage)
            and (level is None or e.get("status") == level)
        ]
        shown = found[-MAX_EVENTS:]
        return self.page(
            "events.html.j2",
            run=run,
            events=[(e, json.dumps(e.get("metadata"), ensure_ascii=False)) for e in shown],
            total=len(found),
            types=types,
            stages=stages,
            levels=LEVELS,
            type=kind or "",
            stage=stage or "",
            level=level or "",
        )


def create_app(
    *,
    checkpoint_dir: str | os.PathLike[str] = "data/checkpoints",
    log_dir: str | os.PathLike[str] = "logs",
    allowed_hosts: Iterable[str] = ("127.0.0.1", "localhost", "[::1]"),
) -> Starlette:
    """The dashboard as an ASGI application (serve it with uvicorn, or test it with TestClient).

    Args:
        checkpoint_dir: The checkpoint directory to show (only read).
        log_dir: The log directory whose events are shown (only read).
        allowed_hosts: ``Host`` header values served (with or without a port); others get 400.

    Raises:
        ImportError: Starlette is not installed (``pip install 'stagepoint[ui]'``).
    """
    try:
        from starlette.applications import Starlette
        from starlette.middleware import Middleware
        from starlette.middleware.trustedhost import TrustedHostMiddleware
        from starlette.responses import RedirectResponse
        from starlette.routing import Route
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        msg = "the dashboard needs Starlette and uvicorn: pip install 'stagepoint[ui]'"
        raise ImportError(msg) from exc

    board = Dashboard(os.fspath(checkpoint_dir), Path(log_dir))
    routes = [
        Route("/", lambda request: RedirectResponse("/runs")),
        Route("/runs", board.runs),
        Route("/runs/{pipeline_id}", board.run),
        Route("/runs/{pipeline_id}/checkpoints", board.checkpoints),
        Route("/runs/{pipeline_id}/events", board.events),
        Route("/checkpoints/{checkpoint_id}", board.checkpoint),
        Route("/api/runs", board.api_runs),
        Route("/api/runs/{pipeline_id}", board.api_run),
    ]
    hosts = sorted({h.strip("[]") for h in allowed_hosts} | set(allowed_hosts))
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(_SecurityHeaders),
            Middleware(TrustedHostMiddleware, allowed_hosts=hosts),
        ],
        exception_handlers=_handlers(board),
    )


def _handlers(board: Dashboard) -> dict[Any, Any]:
    def answer(request: Request, status: int, message: str) -> Response:
        from starlette.responses import JSONResponse

        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=status)
        return board.page("error.html.j2", status_code=status, status=status, message=message)

    def bad(request: Request, exc: Exception) -> Response:
        return answer(request, 400, str(exc))

    def missing(request: Request, exc: Exception) -> Response:
        return answer(request, 404, str(exc))

    def http(request: Request, exc: Exception) -> Response:
        code = int(getattr(exc, "status_code", 500))
        return answer(request, code, str(getattr(exc, "detail", "")) or "error")

    def broken(request: Request, exc: Exception) -> Response:
        return answer(request, 500, f"{type(exc).__name__}: {exc}")

    from starlette.exceptions import HTTPException

    return {
        BadRequest: bad,
        InvalidNameError: bad,
        AmbiguousIdError: bad,
        RunNotFoundError: missing,
        CheckpointNotFoundError: missing,
        CheckpointError: broken,
        HTTPException: http,
    }


class _SecurityHeaders:
    """ASGI middleware: the report's Content-Security-Policy and no-sniff/no-frame headers."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.headers = {
            "Content-Security-Policy": assets()["csp"],
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY",
            "Cache-Control": "no-store",
        }

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        from starlette.datastructures import MutableHeaders

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
