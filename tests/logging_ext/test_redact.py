"""redact_url shows the endpoint and hides every part that may be a credential."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logging_ext import redact_url
from logging_ext._redact import scrub, secret_parts


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "json://user:s3cret@127.0.0.1:8080/hooks/abc123?method=POST",
            "json://****:****@127.0.0.1:8080/hooks/****?method=POST",
        ),
        ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ", "slack://****/****/****"),
        (
            "https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",
            "https://hooks.slack.com/services/****/****/****",
        ),
        (
            "mailto://alerts:pw@smtp.example.com:587?from=a@example.com&to=ops@example.com",
            "mailto://****:****@smtp.example.com:587?from=****&to=****",
        ),
        ("pagerduty://routingkey@apikey", "pagerduty://****@****"),
        ("discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js", "discord://****/****"),
        (
            "json://localhost/notify?token=plain&retries=3",
            "json://localhost/notify?token=****&retries=3",
        ),
        ("json://[::1]:8000/alerts", "json://[::1]:8000/alerts"),
        ("json://example.com/x#secretfragment", "json://example.com/x#****"),
        ("not a url at all", "****"),
        ("", "****"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


_TOKEN = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=3)
_CREDENTIAL = _TOKEN.filter(lambda t: any(c.isdigit() or c.isupper() for c in t) or len(t) > 12)


@given(user=_TOKEN, password=_TOKEN, path=_CREDENTIAL, token=_TOKEN)
def test_no_credential_survives_redaction(user: str, password: str, path: str, token: str) -> None:
    url = f"json://{user}:{password}@hooks.example.com:443/services/{path}?key={token}"
    shown = redact_url(url)
    assert shown == "json://****:****@hooks.example.com:443/services/****?key=****"
    assert scrub(f"POST {url} failed for {path}", secret_parts(url)) == "POST **** failed for ****"


def test_secret_parts_lists_what_is_hidden_and_scrub_removes_it() -> None:
    url = "json://svc:pw-991@127.0.0.1:9/hooks/Tok3n?sig=abc"
    parts = secret_parts(url)
    assert {"svc", "pw-991", "Tok3n", "abc", url} <= parts
    assert "hooks" not in parts
    text = "HTTPConnectionPool(host='127.0.0.1', port=9): url: /hooks/Tok3n?sig=abc (pw-991)"
    assert (
        scrub(text, parts)
        == "HTTPConnectionPool(host='127.0.0.1', port=9): url: /hooks/****?sig=**** (****)"
    )
