"""log_context stamps records in threads, asyncio tasks and nested blocks; extra wins."""

from __future__ import annotations

import asyncio
import contextvars
import io
import json
import logging
import threading

import pytest

from logging_ext import ContextFilter, JsonFormatter, current_context, log_context


@pytest.fixture
def captured():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(["message", "pipeline_id", "stage"]))
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("context_tests")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False

    def lines() -> list[dict[str, object]]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    return logger, lines


def test_outside_any_context_nothing_is_stamped(captured) -> None:
    logger, lines = captured
    assert current_context() == {}
    logger.info("plain")
    assert lines()[0]["pipeline_id"] is None


def test_nesting_adds_fields_and_restores_the_outer_context(captured) -> None:
    logger, lines = captured
    with log_context(pipeline_id="p1", run="r1") as outer:
        assert outer == {"pipeline_id": "p1", "run": "r1"}
        with log_context(stage="extract"):
            assert current_context() == {"pipeline_id": "p1", "run": "r1", "stage": "extract"}
            logger.info("inner")
        with log_context(pipeline_id="p2", stage="load"):
            logger.info("override")
        logger.info("outer")
    assert current_context() == {}
    got = [(r["message"], r["pipeline_id"], r["stage"], r.get("run")) for r in lines()]
    assert got == [
        ("inner", "p1", "extract", "r1"),
        ("override", "p2", "load", "r1"),
        ("outer", "p1", None, "r1"),
    ]


def test_context_is_restored_after_an_exception() -> None:
    with pytest.raises(RuntimeError), log_context(pipeline_id="p"):
        raise RuntimeError
    assert current_context() == {}


def test_explicit_extra_is_never_overwritten(captured) -> None:
    logger, lines = captured
    with log_context(pipeline_id="p1", stage="ctx", run="r"):
        logger.info("mine", extra={"stage": "explicit", "run": None})
    record = lines()[0]
    assert (record["pipeline_id"], record["stage"], record["run"]) == ("p1", "explicit", None)


def test_threads_started_with_a_copied_context_see_it(captured) -> None:
    logger, lines = captured
    with log_context(pipeline_id="threaded", stage="s"):
        workers = [
            threading.Thread(target=contextvars.copy_context().run, args=(logger.info, f"t{i}"))
            for i in range(4)
        ]
        bare = threading.Thread(target=logger.info, args=("bare",))
    for thread in [*workers, bare]:
        thread.start()
        thread.join()
    by_message = {r["message"]: r["pipeline_id"] for r in lines()}
    assert by_message == {"t0": "threaded", "t1": "threaded", "t2": "threaded",
                          "t3": "threaded", "bare": None}  # fmt: skip


def test_asyncio_tasks_keep_their_own_context(captured) -> None:
    logger, lines = captured

    async def stage(name: str) -> None:
        with log_context(pipeline_id="async", stage=name):
            await asyncio.sleep(0.01)
            logger.info(name)

    async def run() -> None:
        await asyncio.gather(stage("a"), stage("b"), stage("c"))

    asyncio.run(run())
    assert sorted((r["message"], r["stage"]) for r in lines()) == [
        ("a", "a"),
        ("b", "b"),
        ("c", "c"),
    ]


def test_filter_always_accepts() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
    with log_context(pipeline_id="p"):
        assert ContextFilter().filter(record) is True
    assert ContextFilter().filter(record) is True
    assert record.__dict__["pipeline_id"] == "p"
