"""What every page resource shares: the pages it renders, the sessions it checks, and
how it reads a posted form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import falcon

from adapters.http.errors import ERROR_PAGE
from adapters.web.rendering import Pages
from adapters.web.session import Sessions

MAX_FIELD = 1000  # longer user names, passwords and token names are not worth reading


def posted_form(req: falcon.Request) -> dict[str, Any]:
    try:
        media = req.get_media(default_when_empty={})
    except falcon.MediaMalformedError:
        raise falcon.HTTPBadRequest(description="the form could not be read") from None
    if not isinstance(media, dict):
        raise falcon.HTTPBadRequest(description="expected a form")
    return media


def field(form: dict[str, Any], name: str) -> str:
    """One text field of a form ("" if absent); 400 if it was sent twice or is overlong."""
    value = form.get(name, "")
    if not isinstance(value, str) or len(value) > MAX_FIELD:
        raise falcon.HTTPBadRequest(description=f"the field {name} is not valid")
    return value


@dataclass(frozen=True)
class WebResource:
    pages: Pages
    sessions: Sessions


class ErrorPages:
    """Falcon middleware: errors met while serving one of the web app's pages are shown
    as a page of it (the API and sync keep their own error shapes)."""

    def __init__(self, pages: Pages) -> None:
        self._pages = pages

    def process_resource(self, req: falcon.Request, _resp: falcon.Response,
                         resource: object, _params: dict[str, Any]) -> None:
        if isinstance(resource, WebResource):
            req.context[ERROR_PAGE] = self._show

    def _show(self, resp: falcon.Response, status: int, description: str) -> None:
        self._pages.render(resp, "error.html", status, code=status,
                           title=falcon.code_to_http_status(status)[4:],
                           description=description.rstrip("."))
