"""Origins (scheme, host and port) of a request and of the page a browser sent it from."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import falcon

from adapters.http.client_address import PEER, ClientAddress

DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(scheme: str, netloc: str) -> str | None:
    """`scheme://host:port` in lower case with the default port spelled out, so equal
    origins compare equal; None for anything that is not an http(s) origin."""
    scheme = scheme.strip().lower()
    if scheme not in DEFAULT_PORTS or not netloc or any(c in netloc for c in "/?#@\\"):
        return None
    parts = urlsplit(f"//{netloc.strip().lower()}")
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError:  # not a port number
        return None
    host = parts.hostname
    if not host:
        return None
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"


def origin_header(value: str) -> str | None:
    """The origin an `Origin` header names (None for "null" and anything malformed)."""
    scheme, sep, rest = value.strip().partition("://")
    return origin(scheme, rest) if sep else None


@dataclass(frozen=True)
class OwnOrigin:
    """The origin a browser addressed: the request's scheme and Host, or, from a trusted
    proxy, its `X-Forwarded-Proto` and `X-Forwarded-Host`."""

    client: ClientAddress = PEER

    def __call__(self, req: falcon.Request) -> str | None:
        scheme, netloc = req.scheme, req.netloc
        if self.client.from_trusted_proxy(req):
            # The nearest proxy's word, as for X-Forwarded-For: the last value.
            scheme = _last(req.get_header("X-Forwarded-Proto")) or scheme
            netloc = _last(req.get_header("X-Forwarded-Host")) or netloc
        return origin(scheme, netloc)


def _last(header: str | None) -> str:
    return (header or "").rsplit(",", 1)[-1].strip()
