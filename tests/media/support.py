"""Helpers for the media sync tests: upload zips, v11 media clients, the blob store on disk.

`MediaApi` is the app built by `entrypoints.wsgi` in process (falcon's test client);
`remote_call` speaks the same wire format to a real server over HTTP.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from falcon import testing

from entrypoints.config import Settings
from entrypoints.wsgi import Services, build_app, build_services
from tests.http.wire import Reply, SyncClient, decode, frame, header_value, unframe

MIB = 1024 * 1024
# Small limits keep the size tests cheap: bodies > 2 MiB and payloads > 6 MiB are refused,
# and so is any media file larger than 1 MiB.
MAX_PAYLOAD_MB = 2
MEDIA_MAX_FILE_MB = 1
CLIENT_VERSION = "anki,26.09.3 (29bb700b),linux"


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


# --- upload zips -------------------------------------------------------------------------


def build_zip(
    members: Mapping[str, bytes],
    *,
    meta: Any = None,
    meta_raw: bytes | None = None,
    compression: int = zipfile.ZIP_STORED,
) -> bytes:
    """A zip of `members`, plus `_meta` (JSON of `meta`, or `meta_raw` as is) unless both
    are None."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if meta_raw is None and meta is not None:
            meta_raw = json.dumps(meta, ensure_ascii=False).encode("utf-8")
        if meta_raw is not None:
            zf.writestr("_meta", meta_raw)
    return out.getvalue()


def upload_zip(
    changes: Mapping[str, bytes | None],
    *,
    deletion: str | None = None,
    compression: int = zipfile.ZIP_STORED,
) -> bytes:
    """The zip a client uploads: bytes add or replace a file, None deletes it (written as
    `deletion`: null like Rust clients, or "" like Python clients and AnkiDroid)."""
    meta: list[list[str | None]] = []
    members: dict[str, bytes] = {}
    for name, data in changes.items():
        if data is None:
            meta.append([name, deletion])
        else:
            member = str(len(members))
            members[member] = data
            meta.append([name, member])
    return build_zip(members, meta=meta, compression=compression)


def _central_entries(data: bytes) -> Iterable[tuple[int, str]]:
    """(offset, name) of every central directory entry."""
    offset = data.rindex(b"PK\x05\x06")
    count, _size, start = struct.unpack_from("<HII", data, offset + 10)
    position = start
    for _ in range(count):
        assert data[position : position + 4] == b"PK\x01\x02"
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, position + 28)
        yield position, data[position + 46 : position + 46 + name_len].decode("utf-8")
        position += 46 + name_len + extra_len + comment_len


def with_declared_size(data: bytes, member: str, size: int) -> bytes:
    """The zip with `member`'s uncompressed size rewritten in both of its headers."""
    patched = bytearray(data)
    for offset, name in _central_entries(data):
        if name == member:
            struct.pack_into("<I", patched, offset + 24, size)
            local = struct.unpack_from("<I", data, offset + 42)[0]
            struct.pack_into("<I", patched, local + 22, size)
            return bytes(patched)
    raise KeyError(member)


def with_damaged_member(data: bytes, member: str) -> bytes:
    """The zip with the first byte of a stored member's content flipped (a CRC error)."""
    patched = bytearray(data)
    for offset, name in _central_entries(data):
        if name == member:
            local = struct.unpack_from("<I", data, offset + 42)[0]
            name_len, extra_len = struct.unpack_from("<HH", data, local + 26)
            patched[local + 30 + name_len + extra_len] ^= 0xFF
            return bytes(patched)
    raise KeyError(member)


def read_download(data: bytes) -> tuple[dict[str, str], dict[str, bytes]]:
    """A download zip: its `_meta` object and the contents of its other members."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        meta = json.loads(zf.read("_meta"))
        members = {n: zf.read(n) for n in zf.namelist() if n != "_meta"}
    return meta, members


# --- the blob store on disk --------------------------------------------------------------


def files_under(folder: Path) -> dict[str, str]:
    """Every file below `folder` (temporary ones too): relative path -> sha1 of its bytes."""
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): sha1(p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def assert_blobs_whole(folder: Path) -> set[str]:
    """Check that every blob holds exactly the bytes its name promises; return their sha1s.

    Only `.incoming-*` temporary files may hold anything else.
    """
    blobs = set()
    for relative, digest in files_under(folder).items():
        path = Path(relative)
        if path.name.startswith(".incoming-"):
            assert len(path.parts) == 1, f"temporary file outside the user's folder: {path}"
            continue
        assert path.parts == (path.name[:2], path.name), f"unexpected file {path}"
        assert digest == path.name, f"{path} does not hold the bytes its name says"
        blobs.add(digest)
    return blobs


# --- an in-process app -------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    name: str
    password: str
    id: int
    key: str


class MediaClient:
    """Posts v11 media requests (`/msync/<method>`) to a WSGI app in process."""

    def __init__(self, http: testing.TestClient) -> None:
        self.http = http

    def post(self, method: str, payload: bytes, *, key: str, header: str | None = None) -> Reply:
        headers = {"anki-sync": header if header is not None else header_value(key)}
        return decode(
            self.http.simulate_post(f"/msync/{method}", headers=headers, body=frame(payload))
        )

    def call(self, method: str, value: Any, *, key: str) -> Reply:
        return self.post(method, json.dumps(value).encode("utf-8"), key=key)

    def begin(self, key: str) -> Reply:
        return self.call("begin", {"v": CLIENT_VERSION}, key=key)

    def changes(self, key: str, last_usn: int = 0) -> list[list[Any]]:
        reply = self.call("mediaChanges", {"lastUsn": last_usn}, key=key).json()
        assert reply["err"] == ""
        return list(reply["data"])

    def upload(self, key: str, data: bytes) -> Reply:
        return self.post("uploadChanges", data, key=key)

    def upload_ok(self, key: str, changes: Mapping[str, bytes | None]) -> list[int]:
        reply = self.upload(key, upload_zip(changes)).json()
        assert reply["err"] == "", reply
        return list(reply["data"])

    def download(self, key: str, names: list[str]) -> Reply:
        return self.call("downloadFiles", {"files": names}, key=key)

    def sanity(self, key: str, local: int) -> Any:
        return self.call("mediaSanity", {"local": local}, key=key).json()


@dataclass
class MediaApi:
    services: Services
    settings: Settings
    sync: SyncClient
    media: MediaClient

    def new_account(self) -> Account:
        name, password = f"user-{uuid.uuid4().hex}", f"pw-{uuid.uuid4().hex[:10]}"
        user_id = self.services.accounts.add_user(name, password)
        return Account(name, password, int(user_id), self.sync.login(name, password))

    def user_folder(self, account: Account) -> Path:
        return self.settings.effective_media_dir / str(account.id)

    def media_usn_in_meta(self, account: Account) -> int:
        return int(self.sync.meta(account.key).json()["media_usn"])

    def snapshot(self, account: Account) -> tuple[Any, ...]:
        """What the server holds for the user: index, usn in meta, every file on disk."""
        return (
            self.media.changes(account.key),
            self.media_usn_in_meta(account),
            files_under(self.user_folder(account)),
        )

    def close(self) -> None:
        self.services.close()


def start_media_api(data_dir: Path, database_url: str) -> MediaApi:
    settings = Settings.from_mapping(
        {
            "data_dir": str(data_dir),
            "database_url": database_url,
            "max_payload_mb": MAX_PAYLOAD_MB,
            "media_max_file_mb": MEDIA_MAX_FILE_MB,
        }
    )
    services = build_services(settings, migrate=True)
    app = build_app(settings, services)
    sync = SyncClient(app)
    return MediaApi(services, settings, sync, MediaClient(sync.http))


# --- a real server over HTTP -------------------------------------------------------------


def remote_call(
    url: str, method: str, payload: bytes, *, key: str, timeout: float = 60
) -> tuple[int, bytes]:
    """POST one v11 call to `<url>/<method>` (method like "msync/mediaSanity")."""
    request = urllib.request.Request(
        f"{url}/{method}",
        data=frame(payload),
        method="POST",
        headers={"anki-sync": json.dumps({"v": 11, "k": key, "c": CLIENT_VERSION, "s": "x"})},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, unframe(resp.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def remote_json(url: str, method: str, value: Any, *, key: str) -> Any:
    status, body = remote_call(url, method, json.dumps(value).encode(), key=key)
    assert status == 200, (status, body)
    return json.loads(body)
