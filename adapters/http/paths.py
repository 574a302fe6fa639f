"""Normalise request paths before routing, so every URL variant clients produce works."""

from __future__ import annotations

import re

import falcon

_SLASHES = re.compile(r"/{2,}")
# Percent-encodings that hide a separator or NUL (%2F, %5C, %00) from a proxy's path rules,
# or spell an unreserved character (letter, digit, - . _ ~) a second way: "/%61nki/" is
# "/anki/" here, and may not be to the proxy in front.
_AMBIGUOUS = re.compile(r"%(?:00|2[d-fD-F]|3[0-9]|4[1-9a-fA-F]|5[0-9aAcCfF]|6[1-9a-fA-F]"
                        r"|7[0-9aAeE])")
AMBIGUOUS_PATH = ("the request path percent-encodes a slash, a backslash or NUL (refused),"
                  " or a letter, digit, '-', '.', '_' or '~' (send those as they are)")
# NOTE: djankiserv served sync under /djs/; clients pointed at it keep working.
_DJANKISERV = re.compile(r"^/djs(?=/(?:sync|msync)/)")


class PathNormaliser:
    """Falcon middleware: refuse ambiguous percent-encodings, collapse repeated slashes,
    drop a trailing slash, strip the configured base path (for a reverse proxy sub-path)
    and djankiserv's `/djs` prefix."""

    def __init__(self, base_path: str) -> None:
        self._base = "/" + base_path.strip("/") if base_path.strip("/") else ""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        # The path as sent (gunicorn's RAW_URI): the server has decoded it in req.path.
        raw = req.env.get("RAW_URI") or req.env.get("REQUEST_URI") or ""
        if "%" in raw and _AMBIGUOUS.search(raw.partition("?")[0]):
            raise falcon.HTTPBadRequest(title="Bad Request", description=AMBIGUOUS_PATH)
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
