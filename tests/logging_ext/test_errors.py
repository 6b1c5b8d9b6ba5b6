"""Errors carry their data, mix in the builtin they resemble and survive pickling."""

from __future__ import annotations

import pickle

import pytest

from logging_ext import InvalidHandlerArgumentError, LoggingExtError


def test_invalid_argument_is_a_value_error_with_its_data() -> None:
    error = InvalidHandlerArgumentError("maxBytes", -1, "must be >= 0")
    assert isinstance(error, LoggingExtError)
    assert isinstance(error, ValueError)
    assert (error.argument, error.value, error.reason) == ("maxBytes", -1, "must be >= 0")
    assert "maxBytes=-1" in str(error)


def test_errors_survive_pickling() -> None:
    error = InvalidHandlerArgumentError("when", "X", "unknown")
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is InvalidHandlerArgumentError
    assert (clone.argument, clone.value, clone.reason, str(clone)) == (
        "when",
        "X",
        "unknown",
        str(error),
    )


@pytest.mark.parametrize("cls", [LoggingExtError, InvalidHandlerArgumentError])
def test_every_error_derives_from_the_package_base(cls: type[Exception]) -> None:
    assert issubclass(cls, LoggingExtError)
