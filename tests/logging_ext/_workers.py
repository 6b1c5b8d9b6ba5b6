"""Functions run in spawned processes by the multi-process tests (importable by the children)."""

from __future__ import annotations

import logging
import time
from typing import Any

from logging_ext import (
    JsonFormatter,
    ProcessSafeRotatingFileHandler,
    ProcessSafeTimedRotatingFileHandler,
)


def write_size_rotated(path: str, worker: int, count: int, max_bytes: int) -> None:
    handler = ProcessSafeRotatingFileHandler(path, maxBytes=max_bytes, backupCount=100_000)
    _write(handler, worker, count, pause=0.0)


def write_time_rotated(path: str, worker: int, count: int, pause: float) -> None:
    handler = ProcessSafeTimedRotatingFileHandler(path, when="S", interval=1)
    _write(handler, worker, count, pause=pause)


def _write(handler: logging.Handler, worker: int, count: int, pause: float) -> None:
    handler.setFormatter(JsonFormatter(["message"]))
    logger = logging.getLogger(f"worker{worker}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    padding = "x" * (worker * 37 % 200)
    for i in range(count):
        logger.info("%d-%d %s", worker, i, padding)
        if pause:
            time.sleep(pause)
    handler.close()


def log_events(log_dir: str, worker: int, count: int) -> None:
    from logging_ext import PipelineLogger, log_context

    pipeline_logger = PipelineLogger(log_dir, max_bytes=16 * 1024, backup_count=10_000)
    for i in range(count):
        pipeline_logger.log_event("tick", f"p{worker}", "s", metadata={"i": i})
        with log_context(pipeline_id=f"p{worker}", stage="s"):
            logging.getLogger("user.code").info("user %d-%d", worker, i)
    pipeline_logger.close()


def cleanup(log_dir: str) -> int:
    from logging_ext import cleanup_old_logs

    return cleanup_old_logs(log_dir, 1)


def write_encoded(path: str, worker: int, count: int, max_bytes: int, encoding: str) -> None:
    handler = ProcessSafeRotatingFileHandler(
        path, maxBytes=max_bytes, backupCount=100_000, encoding=encoding
    )
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger(f"encoded{worker}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    for i in range(count):
        logger.info("%d-%d", worker, i)
    handler.close()


def rotate_once(path: str, ready: Any) -> None:
    handler = ProcessSafeRotatingFileHandler(path, maxBytes=10, backupCount=3)
    handler.setFormatter(JsonFormatter(["message"], timestamp=False))
    ready.set()
    handler.emit(logging.makeLogRecord({"msg": "after the rotation"}))
    handler.close()


def gz_namer(name: str) -> str:
    return name + ".gz"


def gz_rotator(source: str, dest: str) -> None:
    import gzip
    import os
    import shutil

    with open(source, "rb") as raw, gzip.open(dest, "wb") as packed:
        shutil.copyfileobj(raw, packed)
    os.remove(source)


def write_compressed(path: str, worker: int, count: int, max_bytes: int) -> None:
    handler = ProcessSafeRotatingFileHandler(path, maxBytes=max_bytes, backupCount=100_000)
    handler.namer = gz_namer
    handler.rotator = gz_rotator
    _write(handler, worker, count, pause=0.0)


def write_compressed_timed(path: str, worker: int, count: int, pause: float) -> None:
    handler = ProcessSafeTimedRotatingFileHandler(path, when="S", interval=1)
    handler.namer = gz_namer
    handler.rotator = gz_rotator
    _write(handler, worker, count, pause=pause)
