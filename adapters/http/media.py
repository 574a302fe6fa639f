"""Falcon resource for media sync (`msync/...`): decode, call MediaServer, encode."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import falcon
from marshmallow import EXCLUDE, Schema, fields

from adapters.http import codec, log_context, metrics
from adapters.http.resources import temp_file
from adapters.http.schemas import INT64
from adapters.media.zips import store_upload, write_download
from domain.accounts import Accounts
from domain.errors import BadRequest, FileMissing, NotFound, QuotaExceeded
from domain.media_server import MediaServer
from domain.model import UserId
from ports.media import BlobStore

log = logging.getLogger("ankiserv.media")


class _Lenient(Schema):
    class Meta:
        unknown = EXCLUDE


class BeginSchema(_Lenient):
    client_version = fields.String(required=True, data_key="v")


class ChangesSchema(_Lenient):
    last_usn = fields.Integer(required=True, strict=True, data_key="lastUsn", validate=INT64)


class DownloadSchema(_Lenient):
    files = fields.List(fields.String(), required=True)


class SanitySchema(_Lenient):
    local = fields.Integer(required=True, strict=True, validate=INT64)


_BEGIN, _CHANGES = BeginSchema(), ChangesSchema()
_DOWNLOAD, _SANITY = DownloadSchema(), SanitySchema()


def wrapped(data: Any) -> dict[str, Any]:
    """Every media answer but a download is `{"data": ..., "err": ""}`."""
    return {"data": data, "err": ""}


@dataclass
class MediaResource:
    media: MediaServer
    accounts: Accounts
    blobs: BlobStore
    limits: codec.Limits
    max_file: int
    tmp_dir: Any

    def on_post(self, req: falcon.Request, resp: falcon.Response, method: str) -> None:
        handler = self._routes().get(method)
        if handler is None:
            raise NotFound(f"unknown media method {method!r}")
        call = codec.read_call(req, self.limits)
        try:
            user = self.accounts.authenticate(call.host_key)
            log_context.set_user(user)
            handler(user, call, resp)
        finally:
            call.close()

    def on_get(self, req: falcon.Request, resp: falcon.Response, method: str) -> None:
        # NOTE: only legacy Rust media code (2.1.22-2.1.56) uses GET, for begin.
        if method != "begin":
            raise NotFound(f"GET is not allowed for media method {method!r}")
        self.on_post(req, resp, method)

    def _routes(self) -> dict[str, Callable[[UserId, codec.SyncCall, falcon.Response], None]]:
        return {
            "begin": self._begin,
            "mediaChanges": self._changes,
            "uploadChanges": self._upload,
            "downloadFiles": self._download,
            "mediaSanity": self._sanity,
        }

    def _begin(self, user: UserId, call: codec.SyncCall, resp: falcon.Response) -> None:
        payload = codec.json_object(call.json())
        if call.legacy and "v" not in payload:
            # NOTE: Python-era clients (<= 2.1.21) send the version as a form field.
            payload["v"] = call.client_version
        args = _BEGIN.load(payload)
        if not args["client_version"]:
            raise BadRequest("missing client version")
        # NOTE: legacy clients send `sk` back as their media credentials; like the
        # official server we hand out the host key itself.
        codec.write_json(resp, call, wrapped({"usn": self.media.usn(user), "sk": call.host_key}))

    def _changes(self, user: UserId, call: codec.SyncCall, resp: falcon.Response) -> None:
        args = _CHANGES.load(codec.json_object(call.json()))
        entries = self.media.changes(user, args["last_usn"])
        codec.write_json(resp, call, wrapped([[e.fname, e.usn, e.sha1] for e in entries]))

    def _upload(self, user: UserId, call: codec.SyncCall, resp: falcon.Response) -> None:
        with temp_file(self.tmp_dir, ".zip") as (path, file):
            for chunk in call.payload_chunks():
                file.write(chunk)
            metrics.MEDIA_BYTES.labels("upload").inc(file.tell())
            file.close()
            upload = store_upload(path, user, self.blobs, self.max_file,
                                  self.limits.max_decompressed)
        try:
            processed, usn = self.media.upload(user, upload.changes, upload.pending)
        except QuotaExceeded as e:
            log.info("media upload refused: %s", e.message)
            codec.write_json(resp, call, {"err": e.message})  # the client shows it
            return
        finally:
            upload.pending.discard()
        log.info("%d media changes uploaded, media usn %d", processed, usn)
        codec.write_json(resp, call, wrapped([processed, usn]))

    def _download(self, user: UserId, call: codec.SyncCall, resp: falcon.Response) -> None:
        args = _DOWNLOAD.load(codec.json_object(call.json()))
        entries = self.media.files_for_download(user, args["files"])
        with temp_file(self.tmp_dir, ".zip") as (path, file):
            try:
                write_download(file, user, entries, self.blobs)
            except FileMissing as e:
                if e.fname is not None:
                    log.error("media file %r lost from the store; forgetting it", e.fname)
                    self.media.forget_missing(user, e.fname)
                raise
            metrics.MEDIA_BYTES.labels("download").inc(file.tell())
            file.close()
            result = path.open("rb")
        codec.write_file(resp, call, result)

    def _sanity(self, user: UserId, call: codec.SyncCall, resp: falcon.Response) -> None:
        args = _SANITY.load(codec.json_object(call.json()))
        codec.write_json(resp, call, wrapped(self.media.sanity(user, args["local"])))


