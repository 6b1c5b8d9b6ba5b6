"""python-json-logger's own formatter tests, run against our JsonFormatter.

Adapted from nhairs/python-json-logger ``tests/test_formatters.py`` (4.2.0) and
``tests/test_dictconfig.py``. Where our documented layout differs (docs/logging.md: a leading
``timestamp`` with microseconds; ``levelname``/``name``/``threadName``/``processName``/
``exc_info`` renamed to ``level``/``logger``/``thread_name``/``process_name``/``traceback``;
``level`` and ``logger`` in the default fields; bytes as UTF-8 text, not base64; a value whose
``repr`` fails as ``"<unrepresentable ...>"``; strict JSON, numpy numbers as numbers), the
expectation says so; everything else is python-json-logger's expectation unchanged.
"""

from __future__ import annotations

import datetime
import enum
import functools
import io
import json
import logging
import logging.config
import traceback
import uuid
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from pythonjsonlogger.core import RESERVED_ATTRS

from logging_ext import JsonFormatter
from tests._json import loads_strict

_count = 0


@dataclass
class Env:
    logger: logging.Logger
    buffer: io.StringIO
    handler: logging.Handler

    def set_formatter(self, formatter: logging.Formatter) -> None:
        self.handler.setFormatter(formatter)

    def load_json(self) -> Any:
        return loads_strict(self.buffer.getvalue())


@pytest.fixture
def env() -> Iterator[Env]:
    global _count  # noqa: PLW0603
    _count += 1
    logger = logging.getLogger(f"pjl_tests.{_count}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    logger.addHandler(handler)
    yield Env(logger, buffer, handler)
    logger.removeHandler(handler)


def _log_exception(env: Env) -> str:
    try:
        raise Exception("test")
    except Exception:
        env.logger.exception("hello")
        text = traceback.format_exc()
    return text.removesuffix("\n")


class SomeClass:
    def __init__(self, thing: int) -> None:
        self.thing = thing


class BrokenClass:
    def __str__(self) -> str:
        raise ValueError("hahah sucker")

    def __repr__(self) -> str:
        return self.__str__()


@dataclass
class SomeDataclass:
    things: str
    stuff: int
    junk: bool


try:
    raise ValueError
except ValueError as _error:
    STATIC_TRACEBACK = _error.__traceback__


class MultiEnum(enum.Enum):
    NONE = None
    BOOL = False
    STR = "somestring"
    INT = 99
    BYTES = b"some-bytes"


NO_TEST = object()
LAYOUT = {"timestamp"}  # our leading field, on every line


def test_default_format(env: Env) -> None:
    env.set_formatter(JsonFormatter())
    env.logger.info("testing logging format")
    assert env.load_json()["message"] == "testing logging format"


@pytest.mark.parametrize(
    ("fmt", "style"),
    [
        ("[%(levelname)8s] %(message)s %(filename)s:%(lineno)d %(asctime)", "%"),
        # braced only: unbraced $name fields need python-json-logger 4.2 (we support 4.0+)
        ("$$literal ${levelname} ${message} ${filename} ${lineno} ${asctime}", "$"),
        ("levelname,,message,filename,lineno,asctime,", ","),
        (["levelname", "message", "filename", "lineno", "asctime"], "%"),
        (("levelname", "message", "filename", "lineno", "asctime"), "%"),
    ],
)
def test_format_styles_choose_the_fields(env: Env, fmt: Any, style: str) -> None:
    env.set_formatter(JsonFormatter(fmt, style=style))
    env.logger.info("testing logging format")
    log_json = env.load_json()
    assert log_json["message"] == "testing logging format"
    # levelname is written as "level" (documented rename)
    assert log_json.keys() == LAYOUT | {"level", "message", "filename", "lineno", "asctime"}


def test_defaults_field(env: Env) -> None:
    env.set_formatter(JsonFormatter(defaults={"first": 1, "second": 2}))
    env.logger.info("testing defaults field", extra={"first": 1234})
    log_json = env.load_json()
    assert (log_json["first"], log_json["second"]) == (1234, 2)


def test_rename_base_field(env: Env) -> None:
    env.set_formatter(JsonFormatter(rename_fields={"message": "@message"}))
    env.logger.info("testing logging format")
    assert env.load_json()["@message"] == "testing logging format"


def test_rename_with_defaults(env: Env) -> None:
    env.set_formatter(JsonFormatter(rename_fields={"custom": "@custom"}, defaults={"custom": 1}))
    env.logger.info("testing rename with defaults")
    log_json = env.load_json()
    assert log_json["@custom"] == 1
    assert "custom" not in log_json


def test_rename_missing(env: Env) -> None:
    env.set_formatter(JsonFormatter(rename_fields={"missing_field": "new_field"}))
    env.logger.info("test rename missing field")
    log_json = env.load_json()
    assert log_json["message"] == "test rename missing field"
    assert "missing_field" not in log_json
    assert "new_field" not in log_json


def test_rename_keep_missing(env: Env) -> None:
    env.set_formatter(
        JsonFormatter(rename_fields={"missing_field": "new_field"}, rename_fields_keep_missing=True)
    )
    env.logger.info("test keep rename missing field")
    log_json = env.load_json()
    assert log_json["message"] == "test keep rename missing field"
    assert "missing_field" not in log_json
    assert log_json["new_field"] is None


def test_rename_preserve_order(env: Env) -> None:
    env.set_formatter(
        JsonFormatter(
            "{levelname}{message}{asctime}", style="{", rename_fields={"levelname": "LEVEL"}
        )
    )
    env.logger.info("testing logging rename order")
    assert list(env.load_json())[:2] == ["timestamp", "LEVEL"]  # ours: the timestamp leads


def test_rename_once(env: Env) -> None:
    env.set_formatter(
        JsonFormatter(
            "{levelname}{message}{asctime}",
            style="{",
            rename_fields={"levelname": "LEVEL", "message": "levelname"},
        )
    )
    env.logger.info("something")
    log_json = env.load_json()
    assert (log_json["LEVEL"], log_json["levelname"]) == ("INFO", "something")


def test_add_static_fields(env: Env) -> None:
    env.set_formatter(JsonFormatter(static_fields={"log_stream": "kafka"}))
    env.logger.info("testing static fields")
    log_json = env.load_json()
    assert (log_json["log_stream"], log_json["message"]) == ("kafka", "testing static fields")


def test_format_keys(env: Env) -> None:
    keys = ["asctime", "created", "filename", "funcName", "levelname", "levelno", "lineno",
            "module", "msecs", "message", "name", "pathname", "process", "processName",
            "relativeCreated", "thread", "threadName"]  # fmt: skip
    env.set_formatter(JsonFormatter(" ".join(f"%({key})s" for key in keys)))
    env.logger.info("testing logging format")
    log_json = env.load_json()
    renamed = {"levelname": "level", "name": "logger", "threadName": "thread_name",
               "processName": "process_name"}  # fmt: skip
    for key in keys:
        assert renamed.get(key, key) in log_json


def test_unknown_format_key(env: Env) -> None:
    env.set_formatter(JsonFormatter("%(unknown_key)s %(message)s"))
    env.logger.info("testing unknown logging format")
    assert env.load_json()["unknown_key"] is None


def test_log_dict(env: Env) -> None:
    env.set_formatter(JsonFormatter())
    msg = {"text": "testing logging", "num": 1, 5: "9", "nested": {"more": "data"}}
    env.logger.info(msg)
    log_json = env.load_json()
    assert (log_json["text"], log_json["num"], log_json["5"]) == ("testing logging", 1, "9")
    assert log_json["nested"] == {"more": "data"}
    assert log_json["message"] == ""


def test_log_dict_defaults(env: Env) -> None:
    env.set_formatter(JsonFormatter(defaults={"d1": 1234, "d2": "hello"}))
    env.logger.info({"d2": "world"})
    log_json = env.load_json()
    assert (log_json["d1"], log_json["d2"]) == (1234, "world")


def test_log_dict_not_modified(env: Env) -> None:
    env.set_formatter(JsonFormatter())
    msg = {"text": "testing logging", "nested": {"more": "data"}}
    try:
        raise ValueError("test")
    except ValueError:
        env.logger.exception(msg, stack_info=True)
    log_json = env.load_json()
    assert log_json["traceback"]  # exc_info, renamed
    assert log_json["stack_info"]
    assert msg == {"text": "testing logging", "nested": {"more": "data"}}


def test_log_extra_with_a_non_string_key(env: Env) -> None:
    env.set_formatter(JsonFormatter())
    extra = {"text": "testing logging", "num": 1, 5: "9", "nested": {"more": "data"}}
    env.logger.info("hello", extra=extra)  # type: ignore[arg-type]
    log_json = env.load_json()
    assert (log_json["text"], log_json["num"], log_json["5"]) == ("testing logging", 1, "9")
    assert log_json["nested"] == {"more": "data"}
    assert log_json["message"] == "hello"


def test_custom_logic_adds_field(env: Env) -> None:
    class Custom(JsonFormatter):
        def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
            log_data["custom"] = "value"
            return super().process_log_record(log_data)

    env.set_formatter(Custom())
    env.logger.info("message")
    assert env.load_json()["custom"] == "value"


def test_exc_info(env: Env) -> None:
    env.set_formatter(JsonFormatter())
    expected = _log_exception(env)
    log_json = env.load_json()
    assert log_json["traceback"] == expected  # exc_info, renamed
    assert (log_json["exc_type"], log_json["exc_message"]) == ("Exception", "test")


@pytest.mark.parametrize("fmt", ["%(exc_info)s", None])
def test_exc_info_renamed(env: Env, fmt: str | None) -> None:
    env.set_formatter(JsonFormatter(fmt, rename_fields={"exc_info": "stack_trace"}))
    expected = _log_exception(env)
    log_json = env.load_json()
    assert log_json["stack_trace"] == expected
    assert "exc_info" not in log_json


def test_exc_info_renamed_no_error(env: Env) -> None:
    env.set_formatter(JsonFormatter(rename_fields={"exc_info": "stack_trace"}))
    env.logger.info("message")
    log_json = env.load_json()
    assert "stack_trace" not in log_json
    assert "exc_info" not in log_json


def test_custom_object_serialization(env: Env) -> None:
    def encode_complex(z: object) -> object:
        if isinstance(z, complex):
            return (z.real, z.imag)
        raise TypeError(f"Object of type {type(z)} is not JSON serializable")

    env.set_formatter(JsonFormatter(json_default=encode_complex))
    env.logger.info("foo", extra={"special": complex(3, 8), "other": np.int64(4)})
    log_json = env.load_json()
    assert log_json["special"] == [3.0, 8.0]
    assert log_json["other"] == 4  # declined by the hook: our form


def test_rename_reserved_attrs(env: Env) -> None:
    renames = {
        "exc_info": "error.type",
        "exc_text": "error.message",
        "funcName": "log.origin.function",
        "levelname": "log.level",
        "module": "log.origin.file.name",
        "processName": "process.name",
        "threadName": "process.thread.name",
        "msg": "log.message",
    }
    reserved = [attr for attr in RESERVED_ATTRS if attr not in renames]
    fmt = " ".join(f"%({key})s" for key in renames)
    env.set_formatter(JsonFormatter(fmt, reserved_attrs=reserved, rename_fields=renames))
    env.logger.info("message")
    log_json = env.load_json()
    for old_name, new_name in renames.items():
        assert new_name in log_json
        assert old_name not in log_json


def test_default_encoder_with_timestamp() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "Hello", None, None)
    record.created = datetime.datetime(2017, 7, 14, 2, 40, tzinfo=datetime.UTC).timestamp()
    log_json = loads_strict(JsonFormatter(timestamp=True).format(record))
    assert log_json["timestamp"] == "2017-07-14T02:40:00.000000+00:00"  # ours: microseconds


@pytest.mark.parametrize(
    ("obj", "type_", "expected"),
    [
        ("somestring", str, "somestring"),
        ("some unicode Привет", str, "some unicode Привет"),
        (1234, int, 1234),
        (1234.5, float, 1234.5),
        (False, bool, False),
        (None, type(None), None),
        (b"some-bytes", str, "some-bytes"),  # ours: UTF-8 text, not base64
        (b"fancy-bytes-\xf0\xf1", str, "fancy-bytes-\\xf0\\xf1"),
        (datetime.time(16, 45, 30, 100), str, "16:45:30.000100"),
        (datetime.date(2024, 5, 5), str, "2024-05-05"),
        (datetime.datetime(2024, 5, 5, 16, 45, 30, 100), str, "2024-05-05T16:45:30.000100"),
        (
            datetime.datetime(2024, 5, 5, 16, 45, 30, 100, zoneinfo.ZoneInfo("Australia/Sydney")),
            str,
            "2024-05-05T16:45:30.000100+10:00",
        ),
        (
            uuid.UUID("urn:uuid:12345678-1234-5678-1234-567812345678"),
            str,
            "12345678-1234-5678-1234-567812345678",
        ),
        (Exception, str, "Exception"),
        (Exception("Foo occurred"), str, "Exception: Foo occurred"),
        (BaseException, str, "BaseException"),
        (BaseException("BaseFoo occurred"), str, "BaseException: BaseFoo occurred"),
        (STATIC_TRACEBACK, str, "".join(traceback.format_tb(STATIC_TRACEBACK)).strip()),
        (
            SomeDataclass(things="le_things", stuff=99, junk=False),
            dict,
            {"things": "le_things", "stuff": 99, "junk": False},
        ),
        (SomeDataclass, str, "SomeDataclass"),
        (SomeClass, str, "SomeClass"),
        (SomeClass(1234), str, NO_TEST),
        (BrokenClass(), str, "<unrepresentable BrokenClass>"),  # ours
        (MultiEnum.NONE, type(None), None),
        (MultiEnum.BOOL, bool, False),
        (MultiEnum.STR, str, "somestring"),
        (MultiEnum.INT, int, 99),
        (MultiEnum.BYTES, str, "some-bytes"),
        (MultiEnum, list, [None, False, "somestring", 99, "some-bytes"]),
    ],
)
def test_common_types_encoded(env: Env, obj: object, type_: type, expected: Any) -> None:
    env.set_formatter(JsonFormatter())
    env.logger.info("hello", extra={"extra": obj, "extra_dict": {"item": obj}, "extra_list": [obj]})
    log_json = env.load_json()
    values = [log_json["extra"], log_json["extra_dict"]["item"], log_json["extra_list"][0]]
    assert all(isinstance(value, type_) for value in values)
    if expected is not NO_TEST:
        assert values == [expected] * 3


def test_custom_default(env: Env) -> None:
    def custom_default(obj: object) -> object:
        if isinstance(obj, SomeClass):
            return {"TYPE": obj.thing}
        return None

    env.set_formatter(JsonFormatter(json_default=custom_default))
    env.logger.info("hello", extra={"extra": SomeClass(999)})
    assert env.load_json()["extra"] == {"TYPE": 999}


@pytest.mark.parametrize("as_array", ["exc_info_as_array", "stack_info_as_array"])
def test_info_as_array(env: Env, as_array: str) -> None:
    options: dict[str, Any] = {as_array: True}
    env.set_formatter(JsonFormatter(**options))
    try:
        raise Exception("Error")
    except Exception:
        env.logger.exception("Error occurs", stack_info=True)
    log_json = env.load_json()
    key = "traceback" if as_array == "exc_info_as_array" else "stack_info"
    assert isinstance(log_json[key], list)


def test_info_as_array_without_info(env: Env) -> None:
    env.set_formatter(JsonFormatter(exc_info_as_array=True, stack_info_as_array=True))
    env.logger.info("hello", stack_info=False)
    log_json = env.load_json()
    assert "traceback" not in log_json
    assert "stack_info" not in log_json


@pytest.mark.parametrize("as_array", [False, True])
def test_exception_groups_with_notes(env: Env, as_array: bool) -> None:
    env.set_formatter(JsonFormatter(exc_info_as_array=as_array))
    try:
        err1 = ValueError("err 1")
        err1.add_note("note 1")
        err2 = TypeError("err 2")
        err2.add_note("note 2")
        group = ExceptionGroup("my group", [err1, err2])
        group.add_note("group note")
        raise group
    except ExceptionGroup:
        env.logger.exception("oops")
    text = env.load_json()["traceback"]
    assert isinstance(text, list) is as_array
    full = "\n".join(text) if as_array else text
    for part in ("ExceptionGroup: my group", "group note", "ValueError: err 1", "note 1",
                 "TypeError: err 2", "note 2"):  # fmt: skip
        assert part in full


@pytest.mark.parametrize(("ensure_ascii", "written"), [(True, r"\u041f\u0440"), (False, "Пр")])
def test_json_ensure_ascii(env: Env, ensure_ascii: bool, written: str) -> None:
    env.set_formatter(JsonFormatter(json_ensure_ascii=ensure_ascii))
    env.logger.info("Пр")
    assert env.buffer.getvalue().split('"message": "', 1)[1].split('"', 1)[0] == written


# -- json_encoder, json_serializer and strictness (not in python-json-logger's suite) ---------


class ComplexEncoder(json.JSONEncoder):
    def default(self, o: object) -> object:
        if isinstance(o, complex):
            return {"re": o.real, "im": float("nan") if o.imag == 1 else o.imag}
        return super().default(o)


def test_json_encoder_is_used_and_kept_strict(env: Env) -> None:
    env.set_formatter(JsonFormatter(json_encoder=ComplexEncoder))
    env.logger.info("hi", extra={"z": complex(2, 3), "w": complex(0, 1), "n": np.float32(0.5)})
    log_json = env.load_json()
    assert log_json["z"] == {"re": 2.0, "im": 3.0}
    assert log_json["w"] == {"re": 0.0, "im": None}  # NaN from the encoder: null
    assert log_json["n"] == 0.5  # declined by the encoder: our form


def test_json_default_results_are_kept_strict(env: Env) -> None:
    env.set_formatter(JsonFormatter(json_default=lambda o: float("inf")))
    env.logger.info("hi", extra={"thing": SomeClass(1)})
    assert env.load_json()["thing"] is None


def test_json_serializer_is_used_on_strict_data(env: Env) -> None:
    serializer = functools.partial(json.dumps, sort_keys=True)
    env.set_formatter(JsonFormatter(["message"], json_serializer=serializer))
    env.logger.info("hi", extra={"b": float("nan"), "a": np.int64(3), 5: "x"})  # type: ignore[dict-item]
    line = env.buffer.getvalue().strip()
    assert line.startswith('{"5": "x", "a": 3, "b": null, "message": "hi"')


def test_json_serializer_returning_bytes_or_failing_still_writes_the_line(env: Env) -> None:
    def to_bytes(data: object, **options: object) -> bytes:
        return json.dumps(data).encode()

    def failing(data: object, **options: object) -> str:
        raise RuntimeError("broken serializer")

    for serializer in (to_bytes, failing):
        env.buffer.truncate(0)
        env.buffer.seek(0)
        env.set_formatter(JsonFormatter(["message"], json_serializer=serializer))
        env.logger.info("hi", extra={"v": float("nan")})
        assert env.load_json()["v"] is None


class Dummy:
    pass


def my_json_default(obj: object) -> object:
    return "DUMMY" if isinstance(obj, Dummy) else obj


def test_dictconfig_external_references(env: Env) -> None:
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "default": {
                    "()": "logging_ext.JsonFormatter",
                    "json_default": "ext://tests.logging_ext.test_formatter_pjl.my_json_default",
                    "static_fields": {
                        "ext-val": "ext://tests.logging_ext.test_formatter_pjl.LAYOUT"
                    },
                }
            },
            "handlers": {"default": {"class": "logging.NullHandler", "formatter": "default"}},
            "loggers": {"pjl_dictconfig": {"handlers": ["default"], "level": "DEBUG"}},
        }
    )
    formatter = logging.getLogger("pjl_dictconfig").handlers[0].formatter
    assert isinstance(formatter, JsonFormatter)
    assert formatter.json_default is my_json_default
    env.set_formatter(formatter)
    env.logger.info("hello", extra={"dummy": Dummy(), "other": Dummy})
    log_json = env.load_json()
    assert log_json["ext-val"] == ["timestamp"]
    assert (log_json["dummy"], log_json["other"]) == ("DUMMY", "Dummy")
