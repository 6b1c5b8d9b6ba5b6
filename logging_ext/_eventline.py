"""The two lines of an event record, built in one step each (the formatters' fast path).

An event (``PipelineLogger.log_event``) is written twice: to ``events/events.log`` and to
``pipeline.log``, each with its own layout. :class:`~logging_ext.JsonFormatter` builds a line
field by field (timestamp, format fields with their renames, the record's extras) and then
encodes it; for an event record whose attributes are exactly the ones ``log_event`` sets, the
result is known in advance, so these functions build the same dict directly and encode it with
one shared C encoder. The timestamp and the metadata (the only costly value) are encoded once
for both lines. Any other record (an exception, context fields of a ``log_context``, a value
the strict encoder refuses) returns ``None`` and goes the general way, which writes the same
bytes (``tests/logging_ext/test_eventline.py`` compares the two).
"""

from __future__ import annotations

import logging
from itertools import islice
from json import encoder as _json_encoder
from typing import Any

from logging_ext._formatter import iso_timestamp
from logging_ext._jsonsafe import json_default

__all__: list[str] = []

EVENT_ATTRIBUTES = ("event_type", "pipeline_id", "stage", "status", "metadata")
# The attributes LogRecord.__init__ sets, in its order; an event's follow them.
_STANDARD = tuple(logging.LogRecord("", 0, "", 0, "", (), None).__dict__)
_COUNT = len(_STANDARD)
_MAKE = getattr(_json_encoder, "c_make_encoder", None)
# What strict_encoder(ensure_ascii=True, indent=None).encode does, without building the C
# encoder again for every call. No circular check: a cycle raises RecursionError, and the
# record then goes the general way, which handles it.
_ENCODE = (
    None
    if _MAKE is None
    else _MAKE(
        None,
        json_default,
        _json_encoder.encode_basestring_ascii,
        None,
        ": ",
        ", ",
        False,
        False,
        False,
    )
)
_ERRORS = (ValueError, TypeError, RecursionError)


_ASCII = _json_encoder.encode_basestring_ascii


def _encode(value: Any) -> str:
    """``value`` as JSON, as the strict encoder writes it (a string without a detour)."""
    if value.__class__ is str:
        return _ASCII(value)
    assert _ENCODE is not None
    return "".join(_ENCODE(value, 0))


_CACHE = "_event_line_parts"  # skipped by the formatter: its name starts with "_"


def _parts(record: logging.LogRecord) -> tuple[str, ...] | None:
    """The encoded timestamp, event fields and metadata of an event record, or ``None``.

    Checked on every call (another handler's filter may have added a field meanwhile); the
    encoding is done once per record and kept on it.
    """
    attributes = record.__dict__
    cached = attributes.get(_CACHE)
    expected = _COUNT + len(EVENT_ATTRIBUTES) + ("message" in attributes) + (cached is not None)
    if (
        _ENCODE is None
        or len(attributes) != expected
        or record.exc_info is not None
        or record.exc_text
        or record.stack_info
        or record.args
        or record.msg.__class__ is not str
        or tuple(islice(attributes, _COUNT, _COUNT + len(EVENT_ATTRIBUTES))) != EVENT_ATTRIBUTES
    ):
        return None
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    if attributes["event_type"].__class__ is not str:
        return None
    try:
        parts = (
            _ASCII(iso_timestamp(record.created)),
            _ASCII(attributes["event_type"]),
            _encode(attributes["pipeline_id"]),
            _encode(attributes["stage"]),
            _encode(attributes["status"]),
            _encode(attributes["metadata"]),
        )
    except _ERRORS:
        return None
    attributes[_CACHE] = parts
    return parts


def events_line(record: logging.LogRecord) -> str | None:
    """The ``events.log`` line of an event record, or ``None`` for the general way."""
    parts = _parts(record)
    if parts is None:
        return None
    record.message = record.msg  # as Formatter.format leaves it
    timestamp, event_type, pipeline_id, stage, status, metadata = parts
    return (
        f'{{"timestamp": {timestamp}, "event_type": {event_type}, "pipeline_id": {pipeline_id}, '
        f'"stage": {stage}, "status": {status}, "metadata": {metadata}}}'
    )


def records_line(record: logging.LogRecord) -> str | None:
    """The ``pipeline.log`` line of an event record, or ``None`` for the general way."""
    parts = _parts(record)
    if parts is None:
        return None
    record.message = msg = record.msg
    timestamp, event_type, pipeline_id, stage, status, metadata = parts
    try:
        level, logger, message = _encode(record.levelname), _encode(record.name), _ASCII(msg)
        process, thread = _encode(record.process), _encode(record.threadName)
    except _ERRORS:
        return None
    return (
        f'{{"timestamp": {timestamp}, "level": {level}, "logger": {logger}, '
        f'"message": {message}, "pipeline_id": {pipeline_id}, "stage": {stage}, '
        f'"process": {process}, "thread_name": {thread}, "event_type": {event_type}, '
        f'"status": {status}, "metadata": {metadata}}}'
    )
