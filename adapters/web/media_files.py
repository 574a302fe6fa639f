"""Sending one of a user's media files to a browser so that nothing in it can run (an
SVG or an HTML file opened on its own): images, sounds, videos and fonts as what they
are, anything else as a download, all under a sandboxing policy."""

from __future__ import annotations

import mimetypes

import falcon

from domain.media_server import MediaServer
from domain.model import UserId
from ports.media import BlobStore

SHOWN_KINDS = ("image/", "audio/", "video/", "font/")


def send_media(resp: falcon.Response, media: MediaServer, blobs: BlobStore, user: UserId,
               name: str) -> None:
    entry = media.present(user, name)
    blob = None if entry is None else blobs.open(user, entry.sha1)
    if entry is None or blob is None:
        raise falcon.HTTPNotFound(description="there is no such media file")
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    resp.content_type = kind if kind.startswith(SHOWN_KINDS) else "application/octet-stream"
    resp.set_header("Content-Security-Policy", "default-src 'none'; sandbox")
    resp.set_header("Cache-Control", "private, max-age=3600")
    resp.set_stream(blob, entry.size)
