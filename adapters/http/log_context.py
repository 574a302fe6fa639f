"""What every log line of a request names: a request id and, once known, the user.

Set by middleware and by the resources that learn who is calling; read by the log
formatter (entrypoints), so a line logged anywhere during the request carries both.
"""

from __future__ import annotations

import random
import re
from contextvars import ContextVar

import falcon

REQUEST_ID_HEADER = "X-Request-ID"
_GOOD_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

request_id: ContextVar[str] = ContextVar("ankiserv_request_id", default="")
user_id: ContextVar[int | None] = ContextVar("ankiserv_user_id", default=None)


def set_user(user: int) -> None:
    user_id.set(int(user))


class LogContext:
    """Falcon middleware: a request id per request (the client's `X-Request-ID` if it is
    a plain token, else a new one), sent back in the answer. Ids only tell requests apart:
    a pseudo-random one will do, without a system call for each."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        given = req.get_header(REQUEST_ID_HEADER) or ""
        request_id.set(given if _GOOD_ID.fullmatch(given) else f"{random.getrandbits(48):012x}")
        user_id.set(None)

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        resp.set_header(REQUEST_ID_HEADER, request_id.get())
