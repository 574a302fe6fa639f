"""One mapping from domain errors to the status codes Anki clients act on."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import falcon
from marshmallow import ValidationError

from domain.api.service import EditConflict, SyncInProgress
from domain.errors import (
    AuthFailed,
    BadRequest,
    FileMissing,
    LoginThrottled,
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
    (LoginThrottled, 429),
    (UnsupportedVersion, 501),
    (SessionConflict, 409),
    (FileMissing, 409),
    (SyncInProgress, 409),
    (EditConflict, 409),
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


API_PREFIXES = ("/api/", "/djs/dapi/")


def _is_api(req: falcon.Request) -> bool:
    return req.path.startswith(API_PREFIXES)


def _json(resp: falcon.Response, status: int, description: str) -> None:
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.text = json.dumps({"title": falcon.code_to_http_status(status)[4:],
                            "description": description})
    if status == 401:
        resp.set_header("WWW-Authenticate", 'Bearer, Basic realm="ankiserv"')


def _plain(resp: falcon.Response, status: int, text: str | None = None) -> None:
    # Clients read only the status; the official server sends the bare code too.
    resp.status = status
    resp.content_type = falcon.MEDIA_TEXT
    resp.text = str(status) if text is None else f"{status} {text}"


def handle_expected(
    req: falcon.Request, resp: falcon.Response, error: Exception, _params: Any
) -> None:
    status = status_for(error)
    if _is_api(req) and isinstance(error, AuthFailed):
        status = 401  # the API tells a missing login from a forbidden one; sync needs 403
    log.info("%s %s -> %d: %s", req.method, req.path, status, error)
    if isinstance(error, LoginThrottled):
        resp.set_header("Retry-After", str(error.retry_after_s))
    if _is_api(req):
        _json(resp, status, _describe(error))
        return
    if _page(req, resp, status, str(error)):
        return
    _plain(resp, status, str(error) if isinstance(error, LoginThrottled) else None)


def handle_unexpected(
    req: falcon.Request, resp: falcon.Response, error: Exception, _params: Any
) -> None:
    if isinstance(error, falcon.HTTPError):
        if _is_api(req):
            _json(resp, error.status_code, _falcon_description(req, error))
            resp.set_headers(error.headers or {})  # e.g. a 405's Allow
            return
        if _page(req, resp, error.status_code, _falcon_description(req, error)):
            resp.set_headers(error.headers or {})
            return
        _plain(resp, error.status_code, error.description)
        return
    log.exception("%s %s -> 500", req.method, req.path)
    if _is_api(req):
        _json(resp, 500, "internal error")
        return
    if _page(req, resp, 500, "something went wrong on the server"):
        return
    _plain(resp, 500)


ErrorPage = Callable[[falcon.Response, int, str], None]
ERROR_PAGE = "error_page"  # in req.context: how the web page being served shows errors


def _page(req: falcon.Request, resp: falcon.Response, status: int, description: str) -> bool:
    """Show the error as a page of the web app, if the request was for one."""
    page: ErrorPage | None = req.context.get(ERROR_PAGE)
    if page is None:
        return False
    page(resp, status, description)
    return True


def _falcon_description(req: falcon.Request, error: falcon.HTTPError) -> str:
    """Falcon's own errors (unknown path, wrong method) carry no description; say what
    was wrong, as the API's other errors do, without repeating the request's path."""
    if error.description:
        return error.description
    if isinstance(error, falcon.HTTPMethodNotAllowed):
        allowed = dict(error.headers or {}).get("Allow", "")
        return f"this method is not allowed on this path; allowed: {allowed}"
    if isinstance(error, falcon.HTTPNotFound):
        return "no such path"
    return str(error.title or "")


def _describe(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return json.dumps(error.messages)
    return str(error)


def register(app: falcon.App[falcon.Request, falcon.Response]) -> None:
    app.add_error_handler(Exception, handle_unexpected)
    # Falcon's own errors (unknown route, 405) take the same shape as ours.
    app.add_error_handler(falcon.HTTPError, handle_unexpected)
    app.add_error_handler(SyncError, handle_expected)
    app.add_error_handler(ValidationError, handle_expected)
