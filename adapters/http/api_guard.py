"""What the JSON APIs refuse before a resource reads the request: writes a browser sent
from another site, bodies that are not JSON, and query strings holding text no database
can store. The sync endpoints are not concerned: clients send them multipart forms or
zstd, and authenticate with keys inside the request rather than stored credentials."""

from __future__ import annotations

from dataclasses import dataclass

import falcon

from adapters.http import text
from adapters.http.errors import API_PREFIXES
from adapters.http.origin import OwnOrigin, origin_header

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_json(content_type: str | None) -> bool:
    """`application/json` or `application/*+json`, in UTF-8 if a charset is given."""
    media, params = falcon.parse_header(content_type or "")
    media = media.lower()
    if media != "application/json" and not (media.startswith("application/")
                                            and media.endswith("+json")):
        return False
    return params.get("charset", "utf-8").lower() in ("utf-8", "utf8")


def _has_body(req: falcon.Request) -> bool:
    chunked = "chunked" in (req.get_header("Transfer-Encoding") or "").lower()
    return chunked or (req.content_length or 0) > 0


def _bearer(req: falcon.Request) -> bool:
    scheme, _, value = (req.get_header("Authorization") or "").partition(" ")
    return scheme.lower() == "bearer" and bool(value.strip())


@dataclass(frozen=True)
class ApiGuard:
    """Falcon middleware, after `PathNormaliser` (it looks at the normalised path)."""

    own_origin: OwnOrigin

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not req.path.startswith(API_PREFIXES):
            return
        # A browser sends Basic credentials (and cookies) by itself, even with a form
        # another site posts; it never adds a bearer token by itself.
        if req.method not in SAFE_METHODS and not _bearer(req) and not self._same_origin(req):
            raise falcon.HTTPForbidden(description="a write from another site's page is"
                                       " refused; send a bearer token")
        if _has_body(req) and not is_json(req.content_type):
            raise falcon.HTTPUnsupportedMediaType(
                description="the body must be JSON: Content-Type: application/json")
        text.check(req.params)

    def _same_origin(self, req: falcon.Request) -> bool:
        given = req.get_header("Origin")
        if given is None:
            # No Origin: not a browser, or one too old to send it on this request; newer
            # ones say where the request comes from here too.
            return req.get_header("Sec-Fetch-Site") not in ("cross-site", "same-site")
        own = self.own_origin(req)
        return own is not None and origin_header(given) == own
