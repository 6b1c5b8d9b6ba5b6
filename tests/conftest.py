"""Fixtures shared by the whole suite."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _restore_logging_state() -> Iterator[None]:
    """Give every test the logging tree it found: handlers, levels, filters, propagation."""
    manager = logging.Logger.manager
    root = logging.getLogger()
    saved_root = (root.level, list(root.handlers), list(root.filters))
    saved = {
        name: (lg.level, list(lg.handlers), list(lg.filters), lg.propagate, lg.disabled)
        for name, lg in manager.loggerDict.items()
        if isinstance(lg, logging.Logger)
    }
    yield
    for handler in root.handlers:
        if handler not in saved_root[1]:
            handler.close()
    root.setLevel(saved_root[0])
    root.handlers[:] = saved_root[1]
    root.filters[:] = saved_root[2]
    for name, lg in list(manager.loggerDict.items()):
        if not isinstance(lg, logging.Logger):
            continue
        for handler in lg.handlers:
            if name not in saved or handler not in saved[name][1]:
                handler.close()
        if name in saved:
            level, handlers, filters, propagate, disabled = saved[name]
            lg.setLevel(level)
            lg.handlers[:] = handlers
            lg.filters[:] = filters
            lg.propagate = propagate
            lg.disabled = disabled
        else:
            lg.handlers.clear()
            lg.filters.clear()
            lg.setLevel(logging.NOTSET)
            lg.propagate = True


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1, for the whole session (see tests/_s3.py)."""
    from tests._s3 import moto_server

    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3_url(s3_endpoint: str) -> str:
    """``s3://<bucket>/store`` in a fresh bucket of a freshly reset server."""
    from tests._s3 import fresh_bucket

    return f"{fresh_bucket(s3_endpoint)}/store"
