"""Notification URLs without their secrets: what logs, events, errors and reports may show.

Apprise URLs carry their credentials anywhere: in the user and password
(``mailto://user:password@host``), in the host (``slack://TokenA/TokenB/TokenC``,
``pagerduty://routing_key@api_key``), in the path (``json://hooks.example.com/T000/B000/XXXX``)
or in the query (``?token=...``). :func:`redact_url` keeps only what identifies the endpoint
without being a credential: the scheme, a host name that looks like one (a dotted name, an IP
address or ``localhost``), the port, short lower-case path words (``hooks``, ``services``) and
query keys with plain word or number values. Everything else becomes ``****``.

:func:`secret_parts` lists what :func:`redact_url` hides, so text produced by third-party code
(Apprise's own log messages, exception messages) can be scrubbed with :func:`scrub`.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

__all__ = ["redact_url"]

MASK = "****"
_URL = re.compile(
    r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<netloc>[^/?#]*)(?P<path>[^?#]*)"
    r"(?:\?(?P<query>[^#]*))?(?:#(?P<fragment>.*))?$",
    re.DOTALL,
)
_HOST = re.compile(r"^(localhost|[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+|\[[0-9A-Fa-f:.]+\])$")
_PATH_WORD = re.compile(r"^[a-z][a-z_\-]{0,11}$")
_PLAIN_VALUE = re.compile(r"^([A-Za-z]{1,12}|\d{1,6}(\.\d{1,3})?)$")
_SECRET_KEY = re.compile(r"(token|key|secret|pass|pw|auth|sig|hook|code|cred|bearer|access)", re.I)
_MIN_SECRET = 3  # shorter parts are not scrubbed from free text (they would mangle words)


def _split(url: str) -> tuple[str, list[tuple[str, bool]]] | None:
    """``(scheme, [(part, shown), ...])`` in URL order, or ``None`` when ``url`` is no URL.

    Each part is a piece of the URL after ``scheme://`` (separators included, always shown);
    ``shown`` says whether it may be displayed.
    """
    match = _URL.match(url.strip())
    if match is None:
        return None
    parts: list[tuple[str, bool]] = []
    userinfo, at, hostport = match["netloc"].rpartition("@")
    if at:
        user, colon, password = userinfo.partition(":")
        parts += [(user, False), (colon, True), (password, False), ("@", True)]
    if hostport.startswith("["):
        host, _, port = hostport.partition("]")
        host, port = host + "]", port.removeprefix(":")
    else:
        host, _, port = hostport.partition(":")
    parts.append((host, bool(_HOST.match(host))))
    if port:
        parts += [(":", True), (port, port.isdigit())]
    for index, segment in enumerate(match["path"].split("/")):
        if index:
            parts.append(("/", True))
        parts.append((segment, not segment or bool(_PATH_WORD.match(segment))))
    if match["query"] is not None:
        parts.append(("?", True))
        for index, pair in enumerate(match["query"].split("&")):
            key, equals, value = pair.partition("=")
            plain = not _SECRET_KEY.search(key) and bool(_PLAIN_VALUE.match(value))
            parts += [("&" if index else "", True), (key, True), (equals, True)]
            parts.append((value, plain or not value))
    if match["fragment"] is not None:
        parts += [("#", True), (match["fragment"], not match["fragment"])]
    return match["scheme"], parts


def redact_url(url: str) -> str:
    """``url`` with every part that may be a credential replaced by ``****``.

    Safe to log, to put in events and error messages, and to show in reports. Never raises:
    text that is not a URL becomes ``****``.

    >>> redact_url("json://user:s3cret@127.0.0.1:8080/hooks/abc123?method=POST")
    'json://****:****@127.0.0.1:8080/hooks/****?method=POST'
    >>> redact_url("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ")
    'slack://****/****/****'
    """
    if not isinstance(url, str) or (split := _split(url)) is None:
        return MASK
    scheme, parts = split
    return f"{scheme}://" + "".join(part if shown or not part else MASK for part, shown in parts)


def secret_parts(url: str) -> set[str]:
    """The parts of ``url`` that :func:`redact_url` hides (and their percent-decoded forms),
    at least a few characters long; the whole URL when it cannot be parsed."""
    split = _split(url) if isinstance(url, str) else None
    if split is None:
        return {url} if isinstance(url, str) and len(url) >= _MIN_SECRET else set()
    found = {url.strip()}
    for part, shown in split[1]:
        if not shown:
            found.update((part, unquote(part)))
    return {part for part in found if len(part) >= _MIN_SECRET}


def scrub(text: str, secrets: set[str] | frozenset[str]) -> str:
    """``text`` with every occurrence of each of ``secrets`` replaced by ``****``."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text
