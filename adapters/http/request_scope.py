"""Falcon middleware that runs each request inside one storage scope (shared connection)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import falcon


class RequestScope:
    def __init__(self, scope: Callable[[], AbstractContextManager[Any]]) -> None:
        self._scope = scope

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        scope = self._scope()
        scope.__enter__()
        req.context.storage_scope = scope

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        scope = req.context.get("storage_scope")
        if scope is not None:
            del req.context.storage_scope
            scope.__exit__(None, None, None)
