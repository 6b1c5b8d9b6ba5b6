"""Locks on an object store: leases taken by a conditional create and kept by compare-and-swap.

An object store has no file lock and a process on another host has a PID that means nothing
here, so a lock is an object holding ``{"holder", "host", "pid", "ttl"}``:

* taking it is creating the object with If-None-Match: of several takers exactly one wins;
* the holder renews it every third of its time to live by rewriting it with If-Match on the
  ETag of its own last write, from a daemon thread; a renewal that loses (someone took the
  lease over) stops renewing and logs a warning;
* a lease not renewed for its time to live (its holder was killed, its host lost power or its
  network) has expired: a taker replaces it with If-Match on the ETag it read, so of several
  takers of one expired lease, again exactly one wins;
* releasing deletes the object, if it is still this holder's.

Expiry is judged by the store's own ``last_modified`` time against the taker's clock, so clocks
of the hosts involved must agree to well within the time to live (NTP does).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from checkpointing.storage._object_calls import Calls

__all__: list[str] = []

logger = logging.getLogger("checkpointing.storage")


class Lease:
    """A lease this process holds on one key, renewed until :meth:`release`."""

    def __init__(self, calls: Calls, key: str, e_tag: str, ttl: float, token: str) -> None:
        self._calls = calls
        self._key = key
        self._e_tag = e_tag
        self._ttl = ttl
        self._token = token
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew_loop, name=f"lease-{key}", daemon=True)
        self._thread.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self._ttl / 3):
            try:
                result = self._calls.put(
                    self._key,
                    _body(self._token, self._ttl),
                    mode=_if_match(self._e_tag),
                    multipart=False,
                )
            except self._calls.precondition_failed:
                logger.warning(
                    "lease %s was taken over; no longer renewing it", self._calls.url(self._key)
                )
                return
            except OSError:
                logger.warning(
                    "could not renew lease %s; retrying", self._calls.url(self._key), exc_info=True
                )
                continue
            self._e_tag = str(result.get("e_tag"))

    def release(self) -> None:
        """Stop renewing and delete the lease if it is still this holder's (idempotent)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join()
        with contextlib.suppress(OSError, ValueError):
            data, _ = self._calls.get(self._key)
            if json.loads(bytes(data)).get("holder") == self._token:
                self._calls.delete(self._key)


def try_take(calls: Calls, key: str, *, ttl: float) -> Lease | None:
    """Take the lease ``key`` if it is free or expired; ``None`` while someone else holds it."""
    token = os.urandom(12).hex()
    body = _body(token, ttl)
    if (created := _create(calls, key, body, ttl=ttl, token=token)) is not None:
        return created
    try:
        data, meta = calls.get(key)
    except FileNotFoundError:  # released between the create and the read: create it now
        return _create(calls, key, body, ttl=ttl, token=token)
    if not _expired(data, meta):
        return None
    try:
        result = calls.put(key, body, mode=_if_match(str(meta.get("e_tag"))), multipart=False)
    except calls.precondition_failed:
        return None  # another taker replaced it first
    logger.warning("took over expired lease %s", calls.url(key))
    return Lease(calls, key, str(result.get("e_tag")), ttl, token)


def _create(calls: Calls, key: str, body: bytes, *, ttl: float, token: str) -> Lease | None:
    """Take the lease by creating it (If-None-Match); ``None`` if it exists."""
    try:
        result = calls.put(key, body, mode="create", multipart=False)
    except calls.already_exists:
        return None
    return Lease(calls, key, str(result.get("e_tag")), ttl, token)


def _expired(data: Any, meta: dict[str, Any]) -> bool:
    try:
        ttl = float(json.loads(bytes(data))["ttl"])
    except (ValueError, KeyError, TypeError):
        ttl = 0.0  # not a lease we wrote (or torn): treat as expired once it is old
    written = meta.get("last_modified")
    if not isinstance(written, datetime):
        return False
    return (datetime.now(UTC) - written).total_seconds() > max(ttl, 1.0)


def _if_match(e_tag: str) -> dict[str, Any]:
    return {"e_tag": e_tag}


def _body(token: str, ttl: float) -> bytes:
    return json.dumps(
        {
            "holder": token,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "ttl": ttl,
            "renewed": time.time(),
        }
    ).encode()
