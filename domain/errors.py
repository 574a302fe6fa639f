"""Failures the edges must tell apart. They carry facts, never HTTP status codes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class SyncError(Exception):
    """Base of every error the domain raises on purpose."""


class AuthFailed(SyncError):
    """Unknown user, wrong password, or an invalid host key."""


class LoginThrottled(SyncError):
    """Too many failed logins for this user name or client address: try again later."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed logins: try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class UnsupportedVersion(SyncError):
    """The client speaks a sync version outside the supported range."""


class SessionConflict(SyncError):
    """Another sync of the same user owns the session, or none is active."""


class SyncRejected(SyncError):
    """The request is well-formed on the wire but breaks the protocol's rules."""


class BadRequest(SyncError):
    """The request could not be decoded (body, compression, JSON, envelope)."""


class PayloadTooLarge(SyncError):
    """A request body, or what it decompresses to, exceeds the configured limit."""


class NotFound(SyncError):
    """No such endpoint or object."""


class FileMissing(SyncError):
    """A media file asked for is unknown or deleted (the protocol has no way to skip it)."""

    def __init__(self, message: str, fname: str | None = None) -> None:
        super().__init__(message)
        self.fname = fname


class Retryable(SyncError):
    """The database gave up on a transaction (deadlock, serialization failure): the
    whole operation may simply be run again."""


MAX_TRIES = 3


def retrying(operation: Callable[[], T]) -> T:
    """Run `operation`, again (up to 3 tries in all) while it fails with `Retryable`."""
    for attempt in range(1, MAX_TRIES + 1):
        try:
            return operation()
        except Retryable:
            if attempt == MAX_TRIES:
                raise
    raise AssertionError("unreachable")


class UploadRejected(SyncError):
    """A full upload was refused; `message` is shown to the user verbatim."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class QuotaExceeded(SyncError):
    """An upload would take a user past their quota; `message` is shown to the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UserExists(SyncError):
    """A user with that name already exists."""


class NoSuchUser(SyncError):
    """No user with that name exists."""


CORRUPT_UPLOAD_MESSAGE = (
    "Your upload was corrupt. Please use Check Database, or restore from backup."
)
