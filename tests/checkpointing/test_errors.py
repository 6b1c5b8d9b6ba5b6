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
    ItemNotFoundError,
    LockTimeoutError,
    MapError,
    NotPicklableError,
)

ERRORS = [
    (IntegrityError("etl_x_1", "/d/etl_x_1.parquet", "checksum mismatch"), ValueError),
    (CheckpointDecodeError("etl_x_1", "/d/etl_x_1.parquet", "unknown dtype"), ValueError),
    (CheckpointNotFoundError("etl_x_1"), KeyError),
    (InvalidNameError("a/b", "pipeline_id must not contain a path separator"), ValueError),
    (LockTimeoutError("/d/checkpoint_metadata.json.lock", 1.5), TimeoutError),
    (ItemNotFoundError("etl_1", "fetch", "AAPL"), KeyError),
    (MapError("fetch", ("AAPL", "MSFT"), ("GOOG",), 10), RuntimeError),
    (NotPicklableError("fetch", "the function", "cannot pickle lock"), TypeError),
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


def test_map_error_lists_the_failed_keys_and_counts_the_rest():
    many = tuple(f"k{i}" for i in range(12))
    assert str(MapError("fetch", many, (), 20)) == (
        "12 of 20 items of stage 'fetch' failed: k0, k1, k2, k3, k4, k5, k6, k7, k8, k9, "
        "... (2 more)"
    )
    assert str(MapError("fetch", ("a",), ("b", "c"), 3)).endswith("failed: a; 2 did not run")


def test_item_not_found_message_is_not_quoted():
    assert str(ItemNotFoundError("etl_1", "fetch", "AAPL")) == (
        "no committed item 'AAPL' of stage 'fetch' in run 'etl_1'"
    )
