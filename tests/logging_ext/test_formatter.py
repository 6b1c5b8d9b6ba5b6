"""JsonFormatter writes strict, stable JSON lines and can be built from dictConfig."""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json
import logging
import logging.config

import numpy as np
import pytest
from pythonjsonlogger.json import JsonFormatter as PjlJsonFormatter

from logging_ext import JsonFormatter, iso_timestamp
from tests._json import loads_strict


def _record(msg: object = "hello", **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("app.module", logging.WARNING, __file__, 1, msg, (), None)
    record.__dict__.update(extra)
    return record


def _strict(line: str) -> dict[str, object]:
    data = loads_strict(line)
    assert isinstance(data, dict)
    return data


def test_is_a_python_json_logger_formatter() -> None:
    assert issubclass(JsonFormatter, PjlJsonFormatter)


def test_default_layout_puts_timestamp_first_then_level_logger_message() -> None:
    line = JsonFormatter().format(_record(count=3))
    assert "\n" not in line
    data = _strict(line)
    assert list(data) == ["timestamp", "level", "logger", "message", "count"]
    assert data["level"] == "WARNING"
    assert data["logger"] == "app.module"
    assert data["message"] == "hello"


def test_timestamp_is_iso_8601_with_utc_offset() -> None:
    record = _record()
    data = _strict(JsonFormatter().format(record))
    stamp = dt.datetime.fromisoformat(str(data["timestamp"]))
    assert stamp.utcoffset() == dt.timedelta(0)
    assert abs(stamp.timestamp() - record.created) < 1e-5


@pytest.mark.parametrize("created", [0.0, 1.5, 1_760_000_000.999999, 1_760_000_001.000001])
def test_iso_timestamp_matches_datetime(created: float) -> None:
    expected = dt.datetime.fromtimestamp(created, dt.UTC)
    assert abs(dt.datetime.fromisoformat(iso_timestamp(created)) - expected) <= dt.timedelta(
        microseconds=1
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (float("nan"), None),
        (np.float64("-inf"), None),
        (np.int32(12), 12),
        (np.float64(0.25), 0.25),
        (decimal.Decimal("2.5"), 2.5),
        ({"b", "a"}, ["a", "b"]),
        (b"\xffraw", "\\xffraw"),
        ({"nested": [float("nan"), np.int8(1)]}, {"nested": [None, 1]}),
    ],
)
def test_awkward_extra_values_give_strict_json(value: object, expected: object) -> None:
    data = _strict(JsonFormatter().format(_record(value=value)))
    assert data["value"] == expected


def test_a_dict_message_is_merged_like_python_json_logger() -> None:
    data = _strict(JsonFormatter().format(_record({"rows": np.int64(5), "ratio": float("inf")})))
    assert data["rows"] == 5
    assert data["ratio"] is None
    assert data["message"] == ""


def test_exception_fields_carry_type_message_and_traceback() -> None:
    try:
        raise KeyError("missing")
    except KeyError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys_exc_info())
    data = _strict(JsonFormatter().format(record))
    assert data["exc_type"] == "KeyError"
    assert data["exc_message"] == "'missing'"
    assert isinstance(data["traceback"], str)
    assert data["traceback"].startswith("Traceback (most recent call last)")
    assert "KeyError: 'missing'" in data["traceback"]


def test_exception_fields_can_be_left_out() -> None:
    try:
        raise KeyError("missing")
    except KeyError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys_exc_info())
    data = _strict(JsonFormatter(exc_fields=False).format(record))
    assert not {"exc_type", "exc_message", "traceback"} & set(data)


def test_field_list_and_renames_choose_the_layout() -> None:
    formatter = JsonFormatter(
        ["levelname", "message", "pipeline_id"], rename_fields={"message": "msg"}
    )
    data = _strict(formatter.format(_record(pipeline_id="etl")))
    assert list(data) == ["timestamp", "level", "msg", "pipeline_id"]


def test_layout_is_substring_searchable() -> None:
    line = JsonFormatter(["pipeline_id"]).format(_record(pipeline_id='a "quoted" é'))
    assert ('"pipeline_id": ' + json.dumps('a "quoted" é')) in line


def test_built_from_dict_config_with_handlers_and_filter(tmp_path) -> None:
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "logging_ext.ContextFilter"}},
        "formatters": {
            "json": {
                "()": "logging_ext.JsonFormatter",
                "fmt": ["levelname", "name", "message", "pipeline_id", "stage"],
                "static_fields": {"service": "etl"},
            }
        },
        "handlers": {
            "size": {
                "class": "logging_ext.ProcessSafeRotatingFileHandler",
                "filename": str(tmp_path / "app.log"),
                "maxBytes": 1_000_000,
                "backupCount": 3,
                "formatter": "json",
                "filters": ["context"],
            },
            "daily": {
                "class": "logging_ext.ProcessSafeTimedRotatingFileHandler",
                "filename": str(tmp_path / "daily" / "events.log"),
                "when": "midnight",
                "backupCount": 7,
                "utc": True,
                "formatter": "json",
                "filters": ["context"],
            },
        },
        "loggers": {"dictconfig_app": {"handlers": ["size", "daily"], "level": "INFO"}},
    }
    logging.config.dictConfig(config)
    from logging_ext import log_context

    with log_context(pipeline_id="p", stage="s"):
        logging.getLogger("dictconfig_app").info("configured %d", 1)
    for path in (tmp_path / "app.log", tmp_path / "daily" / "events.log"):
        (line,) = path.read_text().splitlines()
        data = _strict(line)
        assert data["message"] == "configured 1"
        assert (data["pipeline_id"], data["stage"], data["service"]) == ("p", "s", "etl")


def test_formatter_output_through_a_stream_is_one_line_per_record() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("formatter_stream")
    logger.addHandler(handler)
    logger.propagate = False
    logger.warning("one\ntwo")
    logger.warning("three")
    lines = stream.getvalue().splitlines()
    assert [_strict(line)["message"] for line in lines] == ["one\ntwo", "three"]


def sys_exc_info():
    import sys

    return sys.exc_info()


def test_an_attribute_set_before_the_standard_ones_is_still_an_extra_field() -> None:
    class EarlyRecord(logging.LogRecord):
        def __init__(self, *args: object, **kwargs: object) -> None:
            self.tenant = "acme"  # set before LogRecord.__init__ sets the standard ones
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    record = EarlyRecord("app", logging.INFO, __file__, 1, "hello", (), None)
    record.__dict__["late"] = 1
    data = _strict(JsonFormatter().format(record))
    assert (data["tenant"], data["late"]) == ("acme", 1)
