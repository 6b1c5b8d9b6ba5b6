"""The error hierarchy: builtin bases, carried data, readable messages, pickling."""

from __future__ import annotations

import pickle

import pytest

from checkpointing import (
    CheckpointDecodeError,
    CheckpointError,
    CheckpointNotFoundError,
    IntegrityError,
    InvalidNameError,
    LockTimeoutError,
)

ERRORS = [
    (IntegrityError("etl_x_1", "/d/etl_x_1.parquet", "checksum mismatch"), ValueError),
    (CheckpointDecodeError("etl_x_1", "/d/etl_x_1.parquet", "unknown dtype"), ValueError),
    (CheckpointNotFoundError("etl_x_1"), KeyError),
    (InvalidNameError("a/b", "pipeline_id must not contain a path separator"), ValueError),
    (LockTimeoutError("/d/checkpoint_metadata.json.lock", 1.5), TimeoutError),
]


@pytest.mark.parametrize(("error", "builtin"), ERRORS)
def test_error_derives_from_base_and_builtin(error, builtin):
    assert isinstance(error, CheckpointError)
    assert isinstance(error, builtin)


@pytest.mark.parametrize(("error", "builtin"), ERRORS)
def test_error_survives_pickling_with_its_data(error, builtin):
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert vars(copy) == vars(error)


def test_not_found_message_is_not_quoted():
    assert str(CheckpointNotFoundError("abc")) == "no checkpoint with id 'abc'"


def test_lock_timeout_says_how_to_recover():
    message = str(LockTimeoutError("/d/x.lock", 2))
    assert "delete /d/x.lock" in message
