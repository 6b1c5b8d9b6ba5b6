"""Reading the ``config/pipeline_config.yml`` layout into ``Pipeline`` options.

The layout (every key the design document's file has; an unknown key at any level is an error
that names the closest known key, so a typo never silently turns a feature off)::

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
        performance_events: false       -> performance_events
      alerts: ["slack://..."]           -> alerts (Apprise URLs; $VAR/${VAR} expanded)
      alerts_on: [failure, slow]        -> alerts_on
      alert_window: 900                 -> alert_window (seconds)
      slow_factor: 3                    -> slow_factor
      slow_min_runs: 5                  -> slow_min_runs
      data_sources: ...                 the application's own section: allowed, not read

``~`` and ``$VAR``/``${VAR}`` in the three paths are expanded; an undefined variable or user is
an error rather than a literal folder name.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from checkpointing._errors import CheckpointError

__all__ = ["ConfigError"]

_CHECKPOINT_KEYS = {
    "enabled": ("checkpoints", bool),
    "checkpoint_dir": ("checkpoint_dir", str),
    "storage_options": ("storage_options", dict),
    "unsafe_single_writer": ("unsafe_single_writer", bool),
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
    "performance_events": ("performance_events", bool),
}
# A section maps each key to a sub-section, to an (option, type) leaf, or to None: a section of
# the layout that belongs to the application, allowed and not read.
_LAYOUT: dict[str, Any] = {
    "pipeline": {
        "execution": {"checkpoints": _CHECKPOINT_KEYS},
        "logging": _LOGGING_KEYS,
        "alerts": ("alerts", list),
        "alerts_on": ("alerts_on", list),
        "alert_window": ("alert_window", (int, float)),
        "slow_factor": ("slow_factor", (int, float)),
        "slow_min_runs": ("slow_min_runs", int),
        "data_sources": None,
    }
}
_PATHS = ("checkpoint_dir", "log_dir", "stage_log_dir")  # options whose ~ and $VAR are expanded
_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "NOTSET")
_VARIABLE = re.compile(r"\$(\w+|\{[^}]*\})", re.ASCII)  # the syntax of os.path.expandvars


class ConfigError(CheckpointError, ValueError):
    """A pipeline configuration has an unknown key, a value of the wrong type, or a bad path.

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


def _dotted(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _walk(
    section: Mapping[Any, Any], layout: Mapping[str, Any], path: str, options: dict[str, Any]
) -> None:
    """Check ``section`` against ``layout`` and collect the options of its leaves."""
    for key, value in section.items():
        where = _dotted(path, key)
        if key not in layout:
            close = difflib.get_close_matches(str(key), list(layout), n=1)
            hint = f", did you mean {close[0]!r}?" if close else ""
            known = ", ".join(sorted(layout))
            raise ConfigError(where, f"unknown key{hint} (known keys: {known})")
        spec = layout[key]
        if spec is None:
            continue
        if isinstance(spec, tuple):
            option, kind = spec
            if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
                raise ConfigError(where, f"has the wrong type {type(value).__name__}")
            options[option] = _expand(value, where) if option in _PATHS else value
        elif value is not None:
            if not isinstance(value, Mapping):
                raise ConfigError(where, f"must be a mapping, not {type(value).__name__}")
            _walk(value, spec, where, options)


def _expand(path: str, key: str) -> str:
    """``path`` with ``~`` and ``$VAR``/``${VAR}`` expanded, as a shell would."""
    for match in _VARIABLE.finditer(path):
        name = match.group(1).strip("{}")
        if name not in os.environ:
            raise ConfigError(key, f"environment variable {name!r} is not set (in {path!r})")
    expanded = path
    if path.startswith("~"):
        try:
            expanded = str(Path(path).expanduser())
        except RuntimeError:
            user = path[1:].split("/", 1)[0]
            raise ConfigError(key, f"no home directory for user {user!r} (in {path!r})") from None
    return os.path.expandvars(expanded)


def _expand_url(url: str) -> str:
    """``url`` with ``$VAR``/``${VAR}`` expanded; an error names the variable, never the URL's
    secrets (a literal ``$`` is written ``%24``)."""
    for match in _VARIABLE.finditer(url):
        name = match.group(1).strip("{}")
        if name not in os.environ:
            from logging_ext import redact_url

            shown = redact_url(url)
            raise ConfigError(
                "pipeline.alerts", f"environment variable {name!r} is not set (in {shown})"
            )
    return os.path.expandvars(url)


def pipeline_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """``Pipeline`` keyword options from a configuration mapping (see the module docstring).

    Raises:
        ConfigError: An unknown key, a value of the wrong type, or a path naming an undefined
            environment variable or user.
    """
    options: dict[str, Any] = {}
    _walk(config, _LAYOUT, "", options)
    level = options.get("level")
    if isinstance(level, str):
        if level.upper() not in _LEVELS:
            raise ConfigError("pipeline.logging.level", f"unknown level {level!r}")
        options["level"] = logging.getLevelName(level.upper())
    for option in ("alerts", "alerts_on"):
        if not all(isinstance(item, str) for item in options.get(option, [])):
            raise ConfigError(f"pipeline.{option}", "must be a list of strings")
    if "alerts" in options:
        options["alerts"] = [_expand_url(url) for url in options["alerts"]]
    log_file = options.pop("log_dir", None)
    if log_file is not None:
        path = Path(log_file)
        if path.name != "pipeline.log":
            raise ConfigError(
                "pipeline.logging.log_file",
                "must name a file called pipeline.log (its directory becomes the log directory)",
            )
        options["log_dir"] = str(path.parent)
    return options
