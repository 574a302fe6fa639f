"""One mapping from domain errors to the status codes Anki clients act on."""

from __future__ import annotations

import logging
from typing import Any

import falcon
from marshmallow import ValidationError

from domain.errors import (
    AuthFailed,
    BadRequest,
    FileMissing,
    NotFound,
    PayloadTooLarge,
    SessionConflict,
    SyncError,
    SyncRejected,
    UnsupportedVersion,
)

log = logging.getLogger("ankiserv.http")

STATUS_BY_ERROR: tuple[tuple[type[Exception], int], ...] = (
    (AuthFailed, 403),
    (UnsupportedVersion, 501),
    (SessionConflict, 409),
    (FileMissing, 409),
    (SyncRejected, 400),
    (BadRequest, 400),
    (ValidationError, 400),
    (PayloadTooLarge, 413),
    (NotFound, 404),
)


def status_for(error: Exception) -> int:
    for kind, status in STATUS_BY_ERROR:
        if isinstance(error, kind):
            return status
    return 500


def _plain(resp: falcon.Response, status: int) -> None:
    # Clients read only the status; the official server sends the bare code too.
    resp.status = status
    resp.content_type = falcon.MEDIA_TEXT
    resp.text = str(status)


def handle_expected(
    req: falcon.Request, resp: falcon.Response, error: Exception, _params: Any
) -> None:
    status = status_for(error)
    log.info("%s %s -> %d: %s", req.method, req.path, status, error)
    _plain(resp, status)


def handle_unexpected(
    req: falcon.Request, resp: falcon.Response, error: Exception, _params: Any
) -> None:
    if isinstance(error, falcon.HTTPError):
        _plain(resp, error.status_code)
        return
    log.exception("%s %s -> 500", req.method, req.path)
    _plain(resp, 500)


def register(app: falcon.App[falcon.Request, falcon.Response]) -> None:
    app.add_error_handler(Exception, handle_unexpected)
    app.add_error_handler(SyncError, handle_expected)
    app.add_error_handler(ValidationError, handle_expected)
