"""An S3 server for the tests: moto's standalone server on 127.0.0.1, started by the tests.

The session starts one server (``ThreadedMotoServer(port=0)``: a free port, loopback only) and
points the standard environment variables at it, so obstore in this process and in every child
process reaches it the way it reaches AWS. Each test gets a fresh bucket after the server's
state is reset through moto's reset endpoint.
"""

from __future__ import annotations

import logging
import os
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

BUCKET = "stagepoint-test"
_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ALLOW_HTTP": "true",
}


@contextmanager
def moto_server() -> Iterator[str]:
    """Start moto's S3 server on a free loopback port; yield its endpoint URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {k: os.environ.get(k) for k in (*_ENV, "AWS_ENDPOINT_URL")}
    os.environ.update(_ENV, AWS_ENDPOINT_URL=endpoint)
    try:
        yield endpoint
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def request(endpoint: str, method: str, path: str) -> None:
    """One unsigned request to the server (moto accepts them)."""
    req = urllib.request.Request(f"{endpoint}{path}", method=method, data=b"")
    with urllib.request.urlopen(req, timeout=30) as answer:
        answer.read()


def fresh_bucket(endpoint: str) -> str:
    """Reset the server's state and create the test bucket; return ``s3://<bucket>``."""
    request(endpoint, "POST", "/moto-api/reset")
    request(endpoint, "PUT", f"/{BUCKET}")
    return f"s3://{BUCKET}"
