"""Headers every answer carries, so a browser neither keeps, sniffs, frames nor runs what
ankiserv sends (all of it is one user's data)."""

from __future__ import annotations

import falcon

HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    # Nothing ankiserv serves needs a script, a style or a frame.
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}


class SecurityHeaders:
    """Falcon middleware; a resource that sets one of these headers keeps its own."""

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: object,
                         req_succeeded: bool) -> None:
        for name, value in HEADERS.items():
            if resp.get_header(name) is None:
                resp.set_header(name, value)
