"""A python-json-logger formatter that always writes strict, stable JSON lines."""

from __future__ import annotations

import json
import logging
import time
from itertools import islice
from typing import TYPE_CHECKING, Any

from pythonjsonlogger import json as pjl_json

from logging_ext._jsonsafe import dumps_strict, strict_encoder, to_jsonable

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["JsonFormatter", "iso_timestamp"]

DEFAULT_FIELDS: tuple[str, ...] = ("levelname", "name", "message")
DEFAULT_RENAMES: dict[str, str] = {
    "levelname": "level",
    "name": "logger",
    "threadName": "thread_name",
    "processName": "process_name",
    "exc_info": "traceback",
}

_second_cache: tuple[int, str] = (-1, "")
# The attributes LogRecord.__init__ sets, in its order: a record's extra fields follow them.
_STANDARD = tuple(logging.LogRecord("", 0, "", 0, "", (), None).__dict__)
_STANDARD_COUNT = len(_STANDARD)


def iso_timestamp(created: float) -> str:
    """Return ``created`` (seconds since the epoch) as ISO 8601 in UTC with its offset.

    For example ``2025-10-07T20:43:53.622629+00:00``: always microseconds, always ``+00:00``,
    so the strings sort in time order. Thread-safe.
    """
    global _second_cache  # noqa: PLW0603 - a one-entry cache of the formatted second
    second = int(created)
    cached_second, prefix = _second_cache
    if second != cached_second:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _second_cache = (second, prefix)
    micros = int((created - second) * 1_000_000)
    return f"{prefix}.{micros:06d}+00:00"


class JsonFormatter(pjl_json.JsonFormatter):
    """python-json-logger's ``JsonFormatter`` writing strict JSON with a stable layout.

    Each record becomes one JSON object on one line (the handler adds the newline):
    ``timestamp`` first (ISO 8601, UTC, with offset), then the fields named by ``fmt``
    (default ``level``, ``logger``, ``message``), then every ``extra`` field of the record.
    Keys and values are separated exactly as ``json.dumps`` does by default (``", "`` and
    ``": "``), with ``ensure_ascii`` on, so that a reader may pre-filter lines with a bytes
    substring such as ``b'"pipeline_id": "etl"'`` before parsing them.

    Values are converted as documented in :mod:`logging_ext._jsonsafe`: NaN and infinities
    become ``null``, numpy numbers stay numbers, ``Decimal``/dates/sets/bytes/paths/enums get
    a JSON form and anything else its ``repr``. Formatting never raises for an odd value.
    python-json-logger's ``json_default``, ``json_encoder`` and ``json_serializer`` are
    honoured, and what they produce is made strict in the same way: a ``json_default`` (or the
    encoder's ``default`` method) is asked first about any value ``json`` cannot encode, and
    our forms apply to what it declines (raises on, or hands back unchanged); a
    ``json_serializer`` receives the record already converted to plain, finite JSON data.
    Record attributes with non-string names (``extra={5: "9"}``) are written with their JSON
    key (``"5"``), as python-json-logger does.

    A record with ``exc_info`` gets ``exc_type`` (qualified class name), ``exc_message`` and
    the full ``traceback`` as fields (unless ``exc_fields=False``).

    Every argument can be given from ``logging.config.dictConfig``
    (``{"()": "logging_ext.JsonFormatter", "fmt": [...], ...}``).

    Args:
        fmt: Fields to write after the timestamp: a ``%``/``{``/``$`` format string or a
            sequence of record attribute names, as in python-json-logger.
        datefmt: Format of ``asctime`` if ``fmt`` asks for it.
        style: Style of ``fmt`` when it is a string.
        validate: Validate ``fmt`` against ``style``.
        timestamp: Name of the leading timestamp field; ``True`` means ``"timestamp"``,
            ``False`` leaves it out.
        rename_fields: Renames applied on top of the defaults (``levelname`` -> ``level``,
            ``name`` -> ``logger``, ``threadName`` -> ``thread_name``, ``processName`` ->
            ``process_name``, ``exc_info`` -> ``traceback``).
        exc_fields: Write exception and stack information when the record carries it.
        json_indent: Indentation (``None``: one line per record, as the log files need).
        json_ensure_ascii: Escape non-ASCII characters (keep it on for pre-filtering).
        json_default: A ``default`` hook for values ``json`` cannot encode (tried first).
        json_encoder: A ``json.JSONEncoder`` subclass to encode with.
        json_serializer: A ``json.dumps``-compatible callable (it is given ``default``,
            ``cls``, ``indent`` and ``ensure_ascii``, as python-json-logger does); a ``bytes``
            result is decoded as UTF-8.
        **kwargs: Any other python-json-logger option (``static_fields``, ``prefix``,
            ``reserved_attrs``, ``defaults``, ``exc_info_as_array``...).
    """

    def __init__(
        self,
        fmt: str | Sequence[str] | None = None,
        datefmt: str | None = None,
        style: str = "%",
        validate: bool = True,
        *,
        timestamp: bool | str = True,
        rename_fields: dict[str, str] | None = None,
        exc_fields: bool = True,
        json_indent: int | str | None = None,
        json_ensure_ascii: bool = True,
        json_default: Callable[[Any], Any] | None = None,
        json_encoder: type[json.JSONEncoder] | None = None,
        json_serializer: Callable[..., str | bytes] = json.dumps,
        **kwargs: Any,
    ) -> None:
        renames = dict(DEFAULT_RENAMES)
        renames.update(rename_fields or {})
        super().__init__(
            list(DEFAULT_FIELDS) if fmt is None else fmt,
            datefmt,
            style,
            validate,
            rename_fields=renames,
            timestamp=False,
            json_indent=json_indent,
            json_ensure_ascii=json_ensure_ascii,
            json_default=json_default,
            json_encoder=json_encoder,
            json_serializer=json_serializer,
            **kwargs,
        )
        # python-json-logger puts its own encoder here when none is given; ours is the default.
        self.json_encoder = json_encoder
        self._timestamp_key: str | None = (
            None if timestamp is False else ("timestamp" if timestamp is True else timestamp)
        )
        self.exc_fields = exc_fields
        self._uses_asctime = "asctime" in self._required_fields

    def format(self, record: logging.LogRecord) -> str:
        """Return ``record`` as one line of strict JSON (without the trailing newline)."""
        message_dict: dict[str, Any] = {}
        if isinstance(record.msg, dict):
            message_dict = record.msg.copy()
            record.message = ""
        else:
            record.message = record.getMessage()
        if self._uses_asctime:
            record.asctime = self.formatTime(record, self.datefmt)
        if self.exc_fields and (record.exc_info or record.exc_text or record.stack_info):
            self._add_exception(record, message_dict)
        log_data: dict[str, Any] = {}
        self.add_fields(log_data, record, message_dict)
        return self.serialize_log_record(self.process_log_record(log_data))

    def _add_exception(self, record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        if record.exc_info:
            exc_type, exc, _ = record.exc_info
            if exc_type is not None:
                message_dict.setdefault("exc_type", _qualified_name(exc_type))
                message_dict.setdefault("exc_message", str(exc))
            if not record.exc_text:
                record.exc_text = logging.Formatter.formatException(self, record.exc_info)
        if record.exc_text and not message_dict.get("exc_info"):
            text = record.exc_text
            message_dict["exc_info"] = text.splitlines() if self.exc_info_as_array else text
        if record.stack_info and not message_dict.get("stack_info"):
            message_dict["stack_info"] = self.formatStack(record.stack_info)

    def add_fields(
        self,
        log_data: dict[str, Any],
        record: logging.LogRecord,
        message_dict: dict[str, Any],
    ) -> None:
        """Add the timestamp first, then python-json-logger's fields and the record's extras.

        Same fields, order and renames as python-json-logger's ``add_fields``, computed with
        fewer lookups (this runs for every record).
        """
        if self._timestamp_key is not None:
            log_data[self._timestamp_key] = iso_timestamp(record.created)
        rename = self.rename_fields
        for key, value in self.defaults.items():
            log_data[rename.get(key, key)] = value
        attributes = record.__dict__
        for key in self._required_fields:
            log_data[rename.get(key, key)] = attributes.get(key)
        for data in (self.static_fields, message_dict):
            for key, value in data.items():
                log_data[rename.get(key, key)] = value
        skip = self._skip_fields
        if not attributes.keys() <= skip:  # one C-level pass when there is no extra field
            items = iter(attributes.items())
            if tuple(islice(attributes, _STANDARD_COUNT)) == _STANDARD:
                items = islice(items, _STANDARD_COUNT, None)  # extras come after these
            for key, value in items:
                if key not in skip and not (isinstance(key, str) and key.startswith("_")):
                    log_data[rename.get(key, key)] = value
        if self.rename_fields_keep_missing:
            for renamed in rename.values():
                log_data.setdefault(renamed, None)

    def jsonify_log_record(self, log_data: dict[str, Any]) -> str:
        """Serialise ``log_data`` to strict JSON (never ``NaN``); never raises."""
        serializer = self.json_serializer
        if serializer is json.dumps and self.json_default is None and self.json_encoder is None:
            try:  # the common case: plain data, one encoder shared by every formatter
                return strict_encoder(self.json_ensure_ascii, self.json_indent).encode(log_data)
            except (ValueError, TypeError, RecursionError):
                pass
        if serializer is json.dumps:
            return dumps_strict(
                log_data,
                ensure_ascii=self.json_ensure_ascii,
                indent=self.json_indent,
                default=self.json_default,
                cls=self.json_encoder,
            )
        default = self.json_default
        if default is None and self.json_encoder is not None:
            default = self.json_encoder().default
        plain = to_jsonable(log_data, default=default)
        try:
            text = serializer(
                plain,
                default=self.json_default,
                cls=self.json_encoder,
                indent=self.json_indent,
                ensure_ascii=self.json_ensure_ascii,
            )
            return text.decode("utf-8", "backslashreplace") if isinstance(text, bytes) else text
        except Exception:  # a caller's serializer failed: the stdlib encoder writes the line
            return dumps_strict(plain, ensure_ascii=self.json_ensure_ascii, indent=self.json_indent)


def _qualified_name(cls: type) -> str:
    module = cls.__module__
    if module in ("builtins", "__main__"):
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"
