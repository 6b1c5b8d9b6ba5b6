"""Reading the ``config/pipeline_config.yml`` layout into ``Pipeline`` options.

Recognised keys (everything else under ``pipeline`` belongs to the application and is ignored;
an unknown key inside the two sections below is an error, so a typo never goes unnoticed)::

    pipeline:
      execution:
        checkpoints:
          enabled: true                 -> checkpoints
          checkpoint_dir: "data/checkpoints" -> checkpoint_dir
          save_after_each_stage: true   -> save_after_each_stage
          auto_resume: true             -> resume
      logging:
        level: "INFO"                   -> level
        log_to_console: true            -> console
        log_to_file: true               -> logging (false: no files, no events)
        log_file: "logs/pipeline.log"   -> log_dir (its directory; the name must be pipeline.log)
        separate_stage_logs: true       -> stage_logs
        stage_log_dir: "logs/stages"    -> stage_log_dir
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checkpointing._errors import CheckpointError

if TYPE_CHECKING:
    import os

__all__ = ["ConfigError"]

_CHECKPOINT_KEYS = {
    "enabled": ("checkpoints", bool),
    "checkpoint_dir": ("checkpoint_dir", str),
    "save_after_each_stage": ("save_after_each_stage", bool),
    "auto_resume": ("resume", bool),
}
_LOGGING_KEYS = {
    "level": ("level", (str, int)),
    "log_to_console": ("console", bool),
    "log_to_file": ("logging", bool),
    "log_file": ("log_dir", str),
    "separate_stage_logs": ("stage_logs", bool),
    "stage_log_dir": ("stage_log_dir", str),
}
_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "NOTSET")


class ConfigError(CheckpointError, ValueError):
    """A pipeline configuration has an unknown key or a value of the wrong type.

    Attributes:
        key: The dotted key at fault (``"pipeline.logging.level"``).
        reason: What is wrong with it.
    """

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason

    def __reduce__(self) -> tuple[type[ConfigError], tuple[str, str]]:
        return type(self), (self.key, self.reason)


def read_config(source: Mapping[str, Any] | str | os.PathLike[str]) -> Mapping[str, Any]:
    """The configuration mapping of ``source``: a mapping as is, or a YAML file parsed.

    Raises:
        ImportError: ``source`` is a file and PyYAML is not installed.
        ConfigError: The file does not hold a mapping.
    """
    if isinstance(source, Mapping):
        return source
    try:
        import yaml
    except ImportError as exc:
        msg = (
            "reading a YAML configuration needs PyYAML: pip install 'stagepoint[yaml]' "
            "(or pass the configuration as a dict)"
        )
        raise ImportError(msg) from exc
    with Path(source).open(encoding="utf-8") as f:
        loaded = yaml.safe_load(f)
    if not isinstance(loaded, Mapping):
        raise ConfigError(str(source), "the file does not hold a mapping")
    return loaded


def _section(parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    value = parent.get(key, {})
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        where = f"{path}.{key}" if path else key
        raise ConfigError(where, f"must be a mapping, not {type(value).__name__}")
    return value


def _map(section: Mapping[str, Any], keys: dict[str, tuple[str, Any]], path: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for key, value in section.items():
        if key not in keys:
            known = ", ".join(sorted(keys))
            raise ConfigError(f"{path}.{key}", f"unknown key (known keys: {known})")
        option, kind = keys[key]
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise ConfigError(f"{path}.{key}", f"has the wrong type {type(value).__name__}")
        options[option] = value
    return options


def pipeline_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """``Pipeline`` keyword options from a configuration mapping (see the module docstring).

    Raises:
        ConfigError: An unknown key in a recognised section, or a value of the wrong type.
    """
    pipeline = _section(config, "pipeline", "")
    execution = _section(pipeline, "execution", "pipeline")
    options = _map(
        _section(execution, "checkpoints", "pipeline.execution"),
        _CHECKPOINT_KEYS,
        "pipeline.execution.checkpoints",
    )
    logging_options = _map(
        _section(pipeline, "logging", "pipeline"), _LOGGING_KEYS, "pipeline.logging"
    )
    level = logging_options.get("level")
    if isinstance(level, str):
        if level.upper() not in _LEVELS:
            raise ConfigError("pipeline.logging.level", f"unknown level {level!r}")
        logging_options["level"] = logging.getLevelName(level.upper())
    log_file = logging_options.pop("log_dir", None)
    if log_file is not None:
        path = Path(log_file)
        if path.name != "pipeline.log":
            raise ConfigError(
                "pipeline.logging.log_file",
                "must name a file called pipeline.log (its directory becomes the log directory)",
            )
        logging_options["log_dir"] = str(path.parent)
    options.update(logging_options)
    return options
