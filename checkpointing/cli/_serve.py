"""``serve``: the local, read-only dashboard (needs ``stagepoint[ui]``)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    import uvicorn

    from checkpointing.store._manager import CheckpointManager

__all__: list[str] = []

_LOOPBACK_NAMES = ("localhost",)


def add_commands(
    add: Callable[[str, str], argparse.ArgumentParser],
) -> dict[str, Callable[[CheckpointManager, argparse.Namespace], int]]:
    """Add ``serve`` with ``add(name, help)``; return its handler by name."""
    serve = add("serve", "serve a local read-only dashboard of the runs (stagepoint[ui])")
    serve.add_argument("--port", type=int, default=8765, help="default: 8765 (0: any free port)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    return {"serve": _serve}


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (127.0.0.0/8, ::1 or localhost)."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _serve(manager: CheckpointManager, args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ImportError:
        print("error: the dashboard needs pip install 'stagepoint[ui]'", file=sys.stderr)
        return 1
    from checkpointing.report._app import create_app

    hosts = ["127.0.0.1", "localhost", "[::1]", args.host]
    if not is_loopback(args.host):
        print(
            f"warning: serving on {args.host}, beyond this machine: the dashboard has no "
            "authentication, so anyone who can reach that address can read every run, event "
            "and checkpoint manifest",
            file=sys.stderr,
        )
        hosts.append("*")  # requests name this machine by any of its names or addresses
    app = create_app(checkpoint_dir=manager.location, log_dir=args.log_dir, allowed_hosts=hosts)
    server = uvicorn.Server(
        uvicorn.Config(app, host=args.host, port=args.port, log_level="warning")
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_until_stopped(server, args.host))
    return 0 if server.started else 1


async def _serve_until_stopped(server: uvicorn.Server, host: str) -> None:
    """Serve; once listening, print the address (with the port chosen for ``--port 0``)."""
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():
        await asyncio.sleep(0.05)
    if server.started:
        port = server.servers[0].sockets[0].getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        print(f"serving http://{shown}:{port}/ (read-only; Ctrl+C stops)", flush=True)
    await task
