"""`/`: what this server is, whether it is ready, and exactly what to enter in each client;
`/qr.svg`: the server's address as a QR code, for phones."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import falcon
import segno

from adapters.http.origin import DEFAULT_PORTS, OwnOrigin
from adapters.web.rendering import Pages
from adapters.web.session import Sessions


@dataclass(frozen=True)
class PublicAddress:
    """The address clients are given: ANKISERV_PUBLIC_URL when set, else the one the
    browser used (through trusted proxies' forwarded headers) plus the base path."""

    configured: str
    own_origin: OwnOrigin
    base_path: str

    def __call__(self, req: falcon.Request) -> str | None:
        if self.configured:
            return self.configured if self.configured.endswith("/") else self.configured + "/"
        found = self.own_origin(req)
        if found is None:
            return None
        parts = urlsplit(found)
        host = parts.netloc if parts.port != DEFAULT_PORTS[parts.scheme] else (
            parts.netloc.rsplit(":", 1)[0])
        return f"{parts.scheme}://{host}{self.base_path}"


class LandingPage:
    def __init__(self, pages: Pages, address: PublicAddress,
                 readiness: Callable[[], str | None], sessions: Sessions) -> None:
        self._pages = pages
        self._address = address
        self._readiness = readiness
        self._sessions = sessions

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        problem = self._readiness()
        visitor = None if problem else self._sessions.visitor(req)
        self._pages.render(resp, "landing.html", address=self._address(req),
                           problem=problem, visitor=visitor)

    def on_head(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.on_get(req, resp)


class AddressQrCode:
    def __init__(self, address: PublicAddress) -> None:
        self._address = address

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        address = self._address(req)
        if address is None:
            raise falcon.HTTPNotFound()
        out = io.BytesIO()
        segno.make(address, error="m").save(out, kind="svg", scale=6, border=2,
                                             xmldecl=False, title="", desc="")
        resp.content_type = "image/svg+xml"
        resp.data = out.getvalue()
