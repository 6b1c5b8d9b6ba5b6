"""The error hierarchy of ``logging_ext``.

::

    LoggingExtError(Exception)
    └── InvalidHandlerArgumentError(LoggingExtError, ValueError)

Logging itself never raises into the caller (handlers report failures through
``Handler.handleError``); these errors are raised only for bad arguments at construction time.
"""

from __future__ import annotations

__all__ = ["InvalidHandlerArgumentError", "LoggingExtError"]


class LoggingExtError(Exception):
    """Base class of every error raised by ``logging_ext``."""


class InvalidHandlerArgumentError(LoggingExtError, ValueError):
    """A handler or logger argument is out of range (a negative size, an unknown ``when``...).

    Attributes:
        argument: The name of the offending argument.
        value: The value that was given.
        reason: Why the value was refused.
    """

    def __init__(self, argument: str, value: object, reason: str) -> None:
        super().__init__(f"invalid {argument}={value!r}: {reason}")
        self.argument = argument
        self.value = value
        self.reason = reason

    def __reduce__(self) -> tuple[type[InvalidHandlerArgumentError], tuple[str, object, str]]:
        return (type(self), (self.argument, self.value, self.reason))
