"""The example job's per-ticker fan-out: each ticker is an item of ``pipeline.map``, run in
the job's own process, or with ``--workers N`` on a local Dask cluster of N worker processes.

Extraction and preprocessing keep their stages and their stage checkpoints; inside them, each
ticker is fetched or preprocessed as its own item (stages ``extract_ticker`` and
``preprocess_ticker``), checkpointed by the process that computed it. A resumed run restores the
tickers that finished and runs only the others. The results are combined exactly as the
one-process functions combine them, so the output is the same file.

A CSV source is one file, read once by the extraction stage itself (fetching it per ticker
would read the whole file once per ticker); its preprocessing still fans out per ticker.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd

from scripts.etl_stages import extract, preprocess

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from checkpointing import Pipeline

__all__ = ["ITEM_STAGES", "PerTicker", "local_cluster"]

ITEM_STAGES = {"data_extraction": "extract_ticker", "data_preprocessing": "preprocess_ticker"}
"""The fan-out stage run inside each of the job's stages that fans out."""

ProgressCallback = Callable[[int, int], None]


@contextlib.contextmanager
def local_cluster(workers: int | None) -> Iterator[Any]:
    """A client of a local Dask cluster of ``workers`` processes (``None``: no cluster)."""
    if workers is None:
        yield None
        return
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            # no dashboard; its bare HTTP server on a free port of 127.0.0.1, never :8787
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


class PerTicker:
    """:func:`extract` and :func:`preprocess`, one ticker per item of ``pipeline.map``.

    Args:
        pipeline: The running pipeline.
        executor: Where the items run (a Dask client, or ``None`` for this process).
        cache: Restore an item from an earlier run whose item of the same key had the same
            code and input (and, on resume, restore this run's own items only if they still
            do), as ``pipeline.map(cache=True)``.
    """

    def __init__(self, pipeline: Pipeline, executor: Any, *, cache: bool) -> None:
        self.pipeline = pipeline
        self.executor = executor
        self.cache = cache

    def extract(
        self,
        source: str,
        tickers: Sequence[str] | None,
        start: str,
        end: str,
        *,
        progress: ProgressCallback | None = None,
    ) -> pd.DataFrame:
        """The frame :func:`extract` returns, fetched one ticker per item (a CSV source: read
        whole, here)."""
        if source.startswith("csv:") or not tickers:
            return extract(source, tickers, start, end, progress=progress)
        fetch = functools.partial(_extract_one, source, start, end)
        frames = self.pipeline.map(
            ITEM_STAGES["data_extraction"],
            fetch,
            list(tickers),
            executor=self.executor,
            progress=False,
            cache=self.cache,
        )
        if progress is not None:
            progress(len(frames), len(frames))
        combined = pd.concat(frames, ignore_index=True)
        return combined.sort_values(["ticker", "date"], kind="stable", ignore_index=True)

    def preprocess(
        self, flagged: pd.DataFrame, *, progress: ProgressCallback | None = None
    ) -> pd.DataFrame:
        """The frame :func:`preprocess` returns, preprocessed one ticker per item."""
        tickers = flagged["ticker"].to_numpy()
        parts = [
            flagged[tickers == ticker].reset_index(drop=True)
            for ticker in pd.unique(tickers)  # validate() sorted the frame by ticker
        ]
        frames = self.pipeline.map(
            ITEM_STAGES["data_preprocessing"],
            preprocess,
            parts,
            key=lambda part: str(part["ticker"].iloc[0]),
            executor=self.executor,
            progress=False,
            cache=self.cache,
        )
        if progress is not None:
            progress(len(frames), len(frames))
        if not frames:
            return preprocess(flagged)
        return pd.concat(frames, ignore_index=True)


def _extract_one(source: str, start: str, end: str, ticker: str) -> pd.DataFrame:
    return extract(source, [ticker], start, end)
