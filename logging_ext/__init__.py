"""Structured JSON events on the standard logging tree, safe across processes.

Public names are re-exported here; import them from ``logging_ext``, never from a private
module.
"""

from __future__ import annotations

from logging_ext._cli import main
from logging_ext._context import ContextFilter, current_context, log_context
from logging_ext._errors import InvalidHandlerArgumentError, LoggingExtError
from logging_ext._formatter import JsonFormatter, iso_timestamp
from logging_ext._handlers import ProcessSafeRotatingFileHandler
from logging_ext._jsonsafe import dumps_strict, json_default, to_jsonable
from logging_ext._logger import PipelineLogger
from logging_ext._query import event_files, read_events, split_attempts, summarize_events
from logging_ext._retention import cleanup_old_logs, register_stage_log, rotated_log_files
from logging_ext._timed import ProcessSafeTimedRotatingFileHandler

__all__ = [
    "ContextFilter",
    "InvalidHandlerArgumentError",
    "JsonFormatter",
    "LoggingExtError",
    "PipelineLogger",
    "ProcessSafeRotatingFileHandler",
    "ProcessSafeTimedRotatingFileHandler",
    "cleanup_old_logs",
    "current_context",
    "dumps_strict",
    "event_files",
    "iso_timestamp",
    "json_default",
    "log_context",
    "main",
    "read_events",
    "register_stage_log",
    "rotated_log_files",
    "split_attempts",
    "summarize_events",
    "to_jsonable",
]
