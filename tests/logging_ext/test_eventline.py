"""The event lines built directly are the very bytes the general formatter writes."""

from __future__ import annotations

import datetime
import decimal
import logging
import math

import numpy as np
import pytest

from logging_ext import JsonFormatter
from logging_ext._eventline import events_line, records_line
from logging_ext._sinks import EVENT_FIELDS, RECORD_FIELDS, _EventsFormatter, _SharedFormatter

CYCLE: dict[str, object] = {}
CYCLE["self"] = CYCLE

PLAIN = [
    {},
    {"duration_seconds": 0.000123, "cpu_seconds": 1e-7, "rows": 10, "ok": True, "none": None},
    {"nested": {"a": [1, 2.5, "x", None, {"b": False}]}, "big": 2**70},
    {"text": 'é ü \u2028 \x00 "quoted" \\ \ud83d\ude00'},
    {"numpy": np.float64(0.5), "ints": [1, -2, 0]},
    {"numpy_int": np.int64(3)},  # converted by the strict encoder's default hook
    {"decimal": decimal.Decimal("1.5"), "when": datetime.date(2026, 1, 2)},
    {"set": {1}},
]
GENERAL = [  # values the strict encoder refuses: built the general way
    {"nan": math.nan},
    {"inf": [math.inf]},
    CYCLE,
]


def _record(metadata, *, stage="extract", event_type="stage_complete", extra=None):
    record = logging.LogRecord(
        "logging_ext.events.abc", logging.INFO, __file__, 0, event_type, (), None
    )
    for key, value in (
        ("event_type", event_type),
        ("pipeline_id", "etl_20261127_103000_abc"),
        ("stage", stage),
        ("status", "success"),
        ("metadata", metadata),
    ):
        record.__dict__[key] = value
    record.__dict__.update(extra or {})
    record.created, record.msecs = 1795775400.123456, 123.456
    return record


def _pairs():
    return (
        (_EventsFormatter(list(EVENT_FIELDS), exc_fields=False),
         JsonFormatter(list(EVENT_FIELDS), exc_fields=False)),
        (_SharedFormatter(list(RECORD_FIELDS)), JsonFormatter(list(RECORD_FIELDS))),
    )  # fmt: skip


def _both_lines(record_args, record_kwargs):
    """Each file's line from the fast formatters (in handler order) and the general ones."""
    fast_record = _record(*record_args, **record_kwargs)
    slow_record = _record(*record_args, **record_kwargs)
    return [(fast.format(fast_record), slow.format(slow_record)) for fast, slow in _pairs()]


@pytest.mark.parametrize("metadata", PLAIN, ids=range(len(PLAIN)))
@pytest.mark.parametrize("stage", ["extract", None])
def test_fast_lines_are_the_general_lines(metadata, stage):
    record = _record(metadata, stage=stage)
    assert events_line(record) is not None and records_line(record) is not None  # fast path
    for fast, slow in _both_lines((metadata,), {"stage": stage}):
        assert fast == slow


@pytest.mark.parametrize("metadata", GENERAL, ids=range(len(GENERAL)))
def test_values_the_encoder_refuses_go_the_general_way(metadata):
    assert events_line(_record(metadata)) is None
    for fast, slow in _both_lines((metadata,), {}):
        assert fast == slow


def test_context_fields_go_the_general_way():
    extra = {"run_id": "r1"}
    assert events_line(_record({}, extra=extra)) is None
    for fast, slow in _both_lines(({},), {"extra": extra}):
        assert fast == slow and '"run_id": "r1"' in fast


def test_a_field_added_after_the_first_line_is_not_lost():
    record = _record({"a": 1})
    (events_fast, _), (shared_fast, shared_slow) = _pairs()
    assert events_fast.format(record) is not None
    record.__dict__["added_later"] = 5  # a filter of a later handler
    line = shared_fast.format(record)
    assert '"added_later": 5' in line
    assert line == shared_slow.format(record)


def test_a_non_string_event_type_goes_the_general_way():
    for fast, slow in _both_lines(({},), {"event_type": "x"}):
        assert fast == slow
    record = _record({})
    record.__dict__["event_type"] = 5
    assert events_line(record) is None
