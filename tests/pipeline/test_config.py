"""Pipeline.from_config: the pipeline_config.yml layout, from a dict and from a YAML file."""

from __future__ import annotations

import logging
import pickle
from typing import Any

import pytest

from checkpointing import ConfigError, Pipeline
from checkpointing.pipeline._config import pipeline_options
from checkpointing.storage import ObjectStorage
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


@pytest.mark.parametrize(
    ("config", "key", "suggestion"),
    [
        ({"pipline": {}}, "pipline", "pipeline"),
        ({"pipeline": {"executon": {}}}, "pipeline.executon", "execution"),
        ({"pipeline": {"loging": {}}}, "pipeline.loging", "logging"),
        ({"pipeline": {"data_source": {}}}, "pipeline.data_source", "data_sources"),
        (
            {"pipeline": {"execution": {"checkpoint": {"enabled": True}}}},
            "pipeline.execution.checkpoint",
            "checkpoints",
        ),
        (
            {"pipeline": {"execution": {"checkpoints": {"enabeld": True}}}},
            "pipeline.execution.checkpoints.enabeld",
            "enabled",
        ),
        ({"pipeline": {"logging": {"levle": "INFO"}}}, "pipeline.logging.levle", "level"),
    ],
)
def test_a_misspelt_key_at_any_level_names_the_closest_one(config, key, suggestion):
    with pytest.raises(ConfigError) as info:
        Pipeline.from_config(config)
    assert info.value.key == key
    assert f"did you mean {suggestion!r}?" in info.value.reason


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"database": {"url": "x"}}, "database"),
        ({"pipeline": {"tickers": ["AAPL"]}}, "pipeline.tickers"),
        ({"pipeline": {"execution": {"workers": 4}}}, "pipeline.execution.workers"),
    ],
)
def test_an_unknown_key_with_no_close_match_lists_the_known_ones(config, key):
    with pytest.raises(ConfigError, match=r"unknown key \(known keys: ") as info:
        pipeline_options(config)
    assert info.value.key == key
    assert "did you mean" not in info.value.reason


def test_the_applications_own_section_is_allowed_and_not_read():
    assert pipeline_options({"pipeline": {"data_sources": {"tickers": ["AAPL"], "x": None}}}) == {}


def test_home_and_environment_variables_are_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SP_DATA", str(tmp_path / "data"))
    options = pipeline_options(
        {
            "pipeline": {
                "execution": {"checkpoints": {"checkpoint_dir": "$SP_DATA/checkpoints"}},
                "logging": {
                    "log_file": "${SP_DATA}/logs/pipeline.log",
                    "stage_log_dir": "~/stages",
                },
            }
        }
    )
    assert options == {
        "checkpoint_dir": str(tmp_path / "data" / "checkpoints"),
        "log_dir": str(tmp_path / "data" / "logs"),
        "stage_log_dir": str(tmp_path / "home" / "stages"),
    }


def test_paths_in_a_yaml_file_are_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("SP_ROOT", str(tmp_path))
    path = tmp_path / "pipeline_config.yml"
    path.write_text(SEED_YAML.format(root="${SP_ROOT}"))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    p = Pipeline.from_config(path, name="etl")
    assert p.checkpoint_dir == str(tmp_path / "data" / "checkpoints")
    with p:
        pass
    assert (tmp_path / "logs" / "events" / "events.log").is_file()
    assert list(cwd.iterdir()) == []  # no literal "${SP_ROOT}" folder


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("checkpoints", "checkpoint_dir", "$SP_UNDEFINED_VAR/checkpoints"),
        ("logging", "log_file", "${SP_UNDEFINED_VAR}/pipeline.log"),
        ("logging", "stage_log_dir", "~sp_no_such_user_here/stages"),
    ],
)
def test_an_undefined_variable_or_user_is_an_error(tmp_path, monkeypatch, section, key, value):
    monkeypatch.delenv("SP_UNDEFINED_VAR", raising=False)
    monkeypatch.chdir(tmp_path)
    config: dict[str, Any] = {"pipeline": {"execution": {"checkpoints": {}}, "logging": {}}}
    target = (
        config["pipeline"]["execution"]["checkpoints"]
        if section == "checkpoints"
        else config["pipeline"]["logging"]
    )
    target[key] = value
    with pytest.raises(ConfigError) as info:
        Pipeline.from_config(config)
    assert info.value.key.endswith(f".{key}")
    assert ("SP_UNDEFINED_VAR" in info.value.reason) or (
        "sp_no_such_user_here" in info.value.reason
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"pipeline": ["execution"]}, "pipeline"),
        ({"pipeline": {"logging": "INFO"}}, "pipeline.logging"),
        ({"pipeline": {"execution": {"checkpoints": True}}}, "pipeline.execution.checkpoints"),
    ],
)
def test_a_section_that_is_not_a_mapping_is_an_error(config, key):
    with pytest.raises(ConfigError, match="must be a mapping") as info:
        pipeline_options(config)
    assert info.value.key == key


def test_the_store_url_and_its_options_come_from_the_configuration(tmp_path) -> None:
    config = {
        "pipeline": {
            "execution": {
                "checkpoints": {
                    "checkpoint_dir": f"memory://config-{tmp_path.name}",
                    "storage_options": {"lease_seconds": 5},
                    "unsafe_single_writer": False,
                }
            }
        }
    }
    p = Pipeline.from_config(config, name="cfg", logging=False)
    assert p.checkpoint_dir == f"memory://config-{tmp_path.name}"
    assert p.manager is not None
    storage = p.manager.storage
    assert isinstance(storage, ObjectStorage)
    held = storage.try_lock("runs/x.lock")
    assert held is not None
    held.release()
    bad = {"pipeline": {"execution": {"checkpoints": {"storage_options": "lease=5"}}}}
    with pytest.raises(ConfigError, match="storage_options: has the wrong type str"):
        Pipeline.from_config(bad, name="cfg", logging=False)
