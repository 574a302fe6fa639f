"""Falcon resources: decode, validate, call one domain method, encode. No sync rules here."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import falcon

from adapters.ankifile.download_cache import DownloadCache
from adapters.ankifile.download_update import OutOfStep, update_copy
from adapters.ankifile.reader import UploadedCollection
from adapters.ankifile.writer import SCHEMA_LEGACY, write_collection
from adapters.http import codec, log_context, metrics, schemas, sync_schemas
from adapters.http.client_address import PEER
from domain.accounts import Accounts
from domain.errors import NotFound, QuotaExceeded, UploadRejected
from domain.model import Credentials, UserId
from domain.sync.server import SyncServer
from ports.collection import CollectionContents, StoredContents

log = logging.getLogger("ankiserv.sync")
UPLOAD_OK = b"OK"

# Schemas hold no per-request state: build each once, not on every request.
_START = sync_schemas.StartRequestSchema()
_APPLY_GRAVES = sync_schemas.ApplyGravesSchema()
_APPLY_CHANGES = sync_schemas.ApplyChangesSchema()
_APPLY_CHUNK = sync_schemas.ApplyChunkSchema()
_SANITY = sync_schemas.SanityRequestSchema()
_HOST_KEY = schemas.HostKeyRequestSchema()


@dataclass
class SyncResource:
    server: SyncServer
    accounts: Accounts
    limits: codec.Limits
    tmp_dir: Path
    downloads: DownloadCache | None = None  # collection files kept for full downloads
    client_address: Callable[[falcon.Request], str] = PEER

    def __post_init__(self) -> None:
        self._handlers = self._routes()

    def on_post(self, req: falcon.Request, resp: falcon.Response, method: str) -> None:
        handler = self._handlers.get(method)
        if handler is None:
            raise NotFound(f"unknown sync method {method!r}")
        call = codec.read_call(req, self.limits)
        if method == "hostKey":  # logins are throttled per client address too
            call.client = self.client_address(req)
        try:
            handler(call, resp)
        finally:
            call.close()

    def _routes(self) -> dict[str, Callable[[codec.SyncCall, falcon.Response], None]]:
        return {
            "hostKey": self._host_key,
            "meta": self._meta,
            "upload": self._upload,
            "download": self._download,
            "start": self._start,
            "applyGraves": self._apply_graves,
            "applyChanges": self._apply_changes,
            "chunk": self._chunk,
            "applyChunk": self._apply_chunk,
            "sanityCheck2": self._sanity_check,
            "finish": self._finish,
            "abort": self._abort,
        }

    def _start(self, call: codec.SyncCall, resp: falcon.Response) -> None:
        device = self._device(call)
        request = _START.load(codec.json_object(call.json()))
        graves = self.server.start(device, call.session_key, request)
        codec.write_json(resp, call, sync_schemas.dump_graves(graves))

    def _apply_graves(self, call: codec.SyncCall, resp: falcon.Response) -> None:
        device = self._device(call)
        args = _APPLY_GRAVES.load(codec.json_object(call.json()))
        self.server.apply_graves(device, call.session_key, args["chunk"])
        codec.write_json(resp, call, None)

    def _apply_changes(self, call: codec.SyncCall, resp: falcon.Response) -> None:
        device = self._device(call)
        args = _APPLY_CHANGES.load(codec.json_object(call.json()))
        ours = self.server.apply_changes(device, call.session_key, args["changes"])
        codec.write_json(resp, call, sync_schemas.dump_changes(ours))

    def _chunk(self, call: codec.SyncCall, resp: falcon.Response) -> None:
        device = self._device(call)
        codec.json_object(call.json())
        chunk = self.server.chunk(device, call.session_key)
        codec.write_json(resp, call, sync_schemas.dump_chunk(chunk))

    def _apply_chunk(self, call: codec.SyncCall, resp: falcon.Response) -> None:
        device = self._device(call)
        args = _APPLY_CHUNK.load(codec.json_object(call.json()))
        self.server.apply_chunk(device, call.session_key, args["chunk"])
        codec.write_json(resp, call, None)

    def _sanity_check(self, call: codec.SyncCall, resp: falcon.Response) -> None:
        device = self._device(call)
        counts = _SANITY.load(codec.json_object(call.json()))
        result = self.server.sanity_check(device, call.session_key, counts)
        if not result.ok:
            log.warning("sanity check failed: client %s, server %s", result.client,
                        result.server)
        codec.write_json(resp, call, sync_schemas.dump_sanity(result))

    def _finish(self, call: codec.SyncCall, resp: falcon.Response) -> None:
        device = self._device(call)
        codec.json_object(call.json())
        mod = self.server.finish(device, call.session_key)
        log.debug("normal sync finished")
        codec.write_json(resp, call, mod)

    def _abort(self, call: codec.SyncCall, resp: falcon.Response) -> None:
        device = self._device(call)
        call.payload()
        self.server.abort(device, call.session_key)
        codec.write_json(resp, call, None)

    def _device(self, call: codec.SyncCall) -> Credentials:
        """The caller; its host key is checked by the sync step's own first query."""
        credentials = self.accounts.credentials(call.host_key)
        log_context.set_user(credentials.user)
        return credentials

    def _host_key(self, call: codec.SyncCall, resp: falcon.Response) -> None:
        args = _HOST_KEY.load(codec.json_object(call.json()))
        key = metrics.counted_login(
            lambda: self.accounts.login(args["username"], args["password"], call.client,
                                        software=call.client_version),
            args["username"], call.client)
        codec.write_json(resp, call, {"key": key})

    def _meta(self, call: codec.SyncCall, resp: falcon.Response) -> None:
        device = self._device(call)
        request = schemas.load_meta(codec.json_object(call.json()))
        metrics.SYNCS_BY_CLIENT.labels(metrics.client_name(call.client_version)).inc()
        codec.write_json(resp, call, schemas.dump_meta(self.server.meta(device, request)))

    def _upload(self, call: codec.SyncCall, resp: falcon.Response) -> None:
        device = self._device(call)
        self.accounts.authenticate(call.host_key)  # before taking in a whole collection
        started = time.perf_counter()
        with temp_file(self.tmp_dir, ".anki2") as (path, file):
            for chunk in call.payload_chunks():
                file.write(chunk)
            size = file.tell()
            file.close()
            try:
                self.accounts.check_collection_size(device.user, size)
                with UploadedCollection(path) as upload:
                    version = self.server.upload(device, upload)
                    schema = upload.schema
            except (UploadRejected, QuotaExceeded) as e:
                log.info("upload rejected: %s", e.message)
                codec.write_payload(resp, call, e.message.encode("utf-8"))
                return
            if self.downloads is not None:
                # The checked file is the collection as stored: the next download sends it.
                self.downloads.keep(device.user, version, schema, path)
        log.info("full upload stored")
        metrics.FULL_SYNC_BYTES.labels("upload").inc(size)
        metrics.FULL_SYNC_SECONDS.labels("upload").observe(time.perf_counter() - started)
        codec.write_payload(resp, call, UPLOAD_OK)

    def _download(self, call: codec.SyncCall, resp: falcon.Response) -> None:
        started = time.perf_counter()
        device = self._device(call)
        call.payload()  # drain the request body before answering
        with temp_file(self.tmp_dir, ".anki2") as (path, file):
            file.close()  # an empty file is a valid empty SQLite database

            def write(contents: StoredContents, version: int | None) -> IO[bytes]:
                downloads = self.downloads
                if downloads is None or version is None:
                    return _built(contents, path)
                kept = downloads.open(device.user, version, legacy_client=call.legacy)
                if kept is not None:
                    return kept
                result = self._updated(device.user, version, contents, path)
                downloads.keep(device.user, version, SCHEMA_LEGACY, path)
                return result

            # Open before the temporary file is gone; the handle streams it, then closes.
            result = self.server.download(device, write)
        log.info("full download sent")
        metrics.FULL_SYNC_BYTES.labels("download").inc(os.fstat(result.fileno()).st_size)
        metrics.FULL_SYNC_SECONDS.labels("download").observe(time.perf_counter() - started)
        codec.write_file(resp, call, result)


    def _updated(
        self, user: UserId, version: int, contents: StoredContents, path: Path
    ) -> IO[bytes]:
        """The download at `path`: a kept earlier file brought up to date if there is
        one that fits, else built from every row."""
        earlier = self.downloads.earlier(user, version) if self.downloads else None
        if earlier is not None:
            base, schema = earlier
            with base, temp_file(self.tmp_dir, ".anki2") as (scratch, file):
                file.close()
                try:
                    update_copy(base, schema, contents, path, scratch)
                    return path.open("rb")
                except (OutOfStep, sqlite3.Error) as e:
                    log.warning("kept download not used, building anew: %s", e)
            for extra in ("", "-journal"):  # what the attempt left
                Path(str(path) + extra).unlink(missing_ok=True)
        return _built(contents, path)


def _built(contents: CollectionContents, path: Path) -> IO[bytes]:
    """Write `contents` as a collection file at `path`; return it open for reading."""
    write_collection(contents, path)
    return path.open("rb")


@contextlib.contextmanager
def temp_file(tmp_dir: Path, suffix: str) -> Iterator[tuple[Path, IO[bytes]]]:
    """A temporary file in the data dir, removed (with SQLite's side files) at exit."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(suffix=suffix, dir=tmp_dir)
    path = Path(name)
    file = os.fdopen(fd, "wb")
    try:
        yield path, file
    finally:
        file.close()
        for extra in ("", "-journal", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                Path(str(path) + extra).unlink()




class HealthResource:
    """`/health`: the process answers (liveness); it never touches the database."""

    def on_get(self, _req: falcon.Request, resp: falcon.Response) -> None:
        resp.status = falcon.HTTP_200
        resp.media = {"status": "ok"}

    def on_head(self, _req: falcon.Request, resp: falcon.Response) -> None:
        resp.status = falcon.HTTP_200


@dataclass
class ReadyResource:
    """`/ready`: the database answers and its schema is current (readiness), else 503
    with the reason."""

    check: Callable[[], str | None]

    def on_get(self, _req: falcon.Request, resp: falcon.Response) -> None:
        problem = self.check()
        resp.status = falcon.HTTP_200 if problem is None else falcon.HTTP_503
        resp.media = {"status": "ready"} if problem is None else {
            "status": "unavailable", "reason": problem}

    def on_head(self, _req: falcon.Request, resp: falcon.Response) -> None:
        resp.status = falcon.HTTP_200 if self.check() is None else falcon.HTTP_503
