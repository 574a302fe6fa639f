"""Normalise request paths before routing, so every URL variant clients produce works."""

from __future__ import annotations

import re

import falcon

_SLASHES = re.compile(r"/{2,}")
# NOTE: djankiserv served sync under /djs/; clients pointed at it keep working.
_DJANKISERV = re.compile(r"^/djs(?=/(?:sync|msync)/)")


class PathNormaliser:
    """Falcon middleware: collapse repeated slashes, drop a trailing slash, strip the
    configured base path (for a reverse proxy sub-path) and djankiserv's `/djs` prefix."""

    def __init__(self, base_path: str) -> None:
        self._base = "/" + base_path.strip("/") if base_path.strip("/") else ""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        path = req.path
        if not self._base and "//" not in path and not path.endswith("/") \
                and not path.startswith("/djs/"):
            return  # most requests: a clean path, nothing to change
        path = _SLASHES.sub("/", path)
        if self._base:
            if path != self._base and not path.startswith(self._base + "/"):
                req.path = "/-outside-base-path"
                return
            path = path[len(self._base):] or "/"
        if len(path) > 1:
            path = path.rstrip("/")
        req.path = _DJANKISERV.sub("", path)
