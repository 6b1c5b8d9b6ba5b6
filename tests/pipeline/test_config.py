"""Pipeline.from_config: the pipeline_config.yml layout, from a dict and from a YAML file."""

from __future__ import annotations

import logging
import pickle
from typing import Any

import pytest

from checkpointing import ConfigError, Pipeline
from checkpointing.pipeline._config import pipeline_options
from tests.pipeline._helpers import events, frame

SEED_YAML = """\
pipeline:
  execution:
    checkpoints:
      enabled: true
      checkpoint_dir: "{root}/data/checkpoints"
      save_after_each_stage: true
      auto_resume: true  # Resume from last checkpoint on failure

  # Logging configuration
  logging:
    level: "DEBUG"
    log_to_console: false
    log_to_file: true
    log_file: "{root}/logs/pipeline.log"
    separate_stage_logs: false
    stage_log_dir: "{root}/logs/stages"
  data_sources:
    tickers: [AAPL]
"""


def _config(root, **checkpoints):
    return {
        "pipeline": {
            "execution": {"checkpoints": {"checkpoint_dir": f"{root}/ckpt", **checkpoints}},
            "logging": {"log_file": f"{root}/logs/pipeline.log"},
        }
    }


def test_every_key_is_mapped(tmp_path):
    options = pipeline_options(
        {
            "pipeline": {
                "execution": {
                    "checkpoints": {
                        "enabled": False,
                        "checkpoint_dir": "c",
                        "save_after_each_stage": False,
                        "auto_resume": True,
                    }
                },
                "logging": {
                    "level": "warning",
                    "log_to_console": True,
                    "log_to_file": True,
                    "log_file": "l/pipeline.log",
                    "separate_stage_logs": True,
                    "stage_log_dir": "l/stages",
                },
            }
        }
    )
    assert options == {
        "checkpoints": False,
        "checkpoint_dir": "c",
        "save_after_each_stage": False,
        "resume": True,
        "level": logging.WARNING,
        "console": True,
        "logging": True,
        "log_dir": "l",
        "stage_logs": True,
        "stage_log_dir": "l/stages",
    }


@pytest.mark.parametrize(
    ("section", "key", "value", "match"),
    [
        ("checkpoints", "enabeld", True, "unknown key"),
        ("checkpoints", "enabled", "yes", "wrong type"),
        ("logging", "level", "LOUD", "unknown level"),
        ("logging", "log_file", "logs/app.log", "pipeline.log"),
        ("logging", "log_to_file", 1, "wrong type"),
    ],
)
def test_bad_keys_are_clear_errors(section, key, value, match):
    config: dict[str, Any] = {"pipeline": {"execution": {"checkpoints": {}}, "logging": {}}}
    target = (
        config["pipeline"]["execution"]["checkpoints"]
        if section == "checkpoints"
        else (config["pipeline"]["logging"])
    )
    target[key] = value
    with pytest.raises(ConfigError, match=match) as info:
        pipeline_options(config)
    assert key in info.value.key
    assert isinstance(info.value, ValueError)
    assert pickle.loads(pickle.dumps(info.value)).key == info.value.key


def test_from_dict_builds_a_working_pipeline(tmp_path):
    p = Pipeline.from_config(_config(tmp_path, enabled=True), name="etl")
    with p, p.stage("extract") as s:
        s.checkpoint(frame())
    assert (tmp_path / "ckpt" / "runs" / f"{p.pipeline_id}.json").is_file()
    assert next(e["event_type"] for e in events(tmp_path / "logs", p.pipeline_id)) == (
        "pipeline_start"
    )


def test_from_config_disabled_checkpoints_write_nothing(tmp_path):
    p = Pipeline.from_config(_config(tmp_path, enabled=False), name="etl")
    with p, p.stage("extract") as s:
        assert s.checkpoint(frame()) is None
    assert not (tmp_path / "ckpt").exists()


def test_from_yaml_file_with_overrides(tmp_path):
    path = tmp_path / "pipeline_config.yml"
    path.write_text(SEED_YAML.format(root=tmp_path))
    p = Pipeline.from_config(path, name="etl", retention_days=3)
    assert p.retention_days == 3
    assert p.checkpoint_dir == str(tmp_path / "data" / "checkpoints")
    with p:
        pass
    assert (tmp_path / "logs" / "events" / "events.log").is_file()
    # auto_resume: a failed run of the same name is continued.
    with pytest.raises(KeyError), Pipeline.from_config(path, name="etl2"):
        raise KeyError("x")
    again = Pipeline.from_config(path, name="etl2")
    assert again.resumed


def test_log_to_file_false_logs_no_events(tmp_path):
    config = _config(tmp_path)
    config["pipeline"]["logging"]["log_to_file"] = False
    p = Pipeline.from_config(config, name="etl")
    with p, p.stage("a"):
        pass
    assert not (tmp_path / "logs").exists()
