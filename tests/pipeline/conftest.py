"""Executors of the fan-out tests, shared by the whole session: a Dask cluster and a spawn pool.

Both are real processes bound to this machine (the Dask scheduler and workers listen on
127.0.0.1, with no dashboard), started once, so the suite stays fast.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest


@pytest.fixture(scope="session")
def dask_client() -> Iterator[Any]:
    """A client of a ``LocalCluster`` of two single-threaded worker processes."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            # no dashboard; its bare HTTP server on a free port of 127.0.0.1, never :8787
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="session")
def spawn_pool() -> Iterator[ProcessPoolExecutor]:
    """A pool of two worker processes started with ``spawn`` (fresh interpreters)."""
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


EXECUTORS = ["in-process", "process-pool", "dask"]


@pytest.fixture(params=EXECUTORS)
def executor(request: pytest.FixtureRequest) -> Any:
    """Each executor the fan-out supports: ``None`` (in-process), a spawn pool, Dask."""
    if request.param == "in-process":
        return None
    if request.param == "process-pool":
        return request.getfixturevalue("spawn_pool")
    return request.getfixturevalue("dask_client")
