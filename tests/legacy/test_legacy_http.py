"""The legacy envelope (sync v8-10) on the wire: multipart forms, gzip, `GET msync/begin`.

Raw requests against the in-process app (`max_payload_mb=1`: bodies over 1 MiB and
payloads over 3 MiB are refused). Protocol doc §1.4-1.7 and §5.8.
"""

from __future__ import annotations

import gc
import gzip
import io
import json
import warnings
import wsgiref.validate
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from falcon import testing

from entrypoints.config import Settings
from entrypoints.services import build_services
from entrypoints.wsgi import build_app
from tests.http.anki_files import CollectionFile, build, read_col, read_rows
from tests.http.harness import MAX_PAYLOAD_MB, MIB, Account, Api, start_api
from tests.http.wire import SyncClient

MAX_BODY = MAX_PAYLOAD_MB * MIB
MAX_DECOMPRESSED = 3 * MAX_PAYLOAD_MB * MIB
BOUNDARY = "Anki-sync-boundary"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
META = {"v": 10, "cv": "anki,2.1.54 (b6a7760c),linux"}
SESSION = "legacy-s"


# ---- building and sending legacy requests ------------------------------------------------

Part = tuple[str, bytes]


def form(parts: list[Part], boundary: str = BOUNDARY) -> bytes:
    """A multipart/form-data body; `data` is a file part like the Rust client sends."""
    out = io.BytesIO()
    for name, value in parts:
        out.write(f"--{boundary}\r\n".encode())
        filename = '; filename="data"' if name == "data" else ""
        out.write(f'Content-Disposition: form-data; name="{name}"{filename}\r\n'.encode())
        if name == "data":
            out.write(b"Content-Type: application/octet-stream\r\n")
        out.write(b"\r\n" + value + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue()


def parts_for(payload: bytes | None, *, c: str | None = "1", k: str | None = None,
              s: str | None = None, sk: str | None = None, gzipped: bool | None = None
              ) -> list[Part]:
    """The parts of one call: `data` is gzipped when `c` is "1" unless `gzipped` says."""
    parts: list[Part] = []
    if payload is not None:
        zipped = (c == "1") if gzipped is None else gzipped
        parts.append(("data", gzip.compress(payload) if zipped else payload))
    for name, value in (("c", c), ("k", k), ("s", s), ("sk", sk)):
        if value is not None:
            parts.append((name, value.encode()))
    return parts


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: Mapping[str, str]

    def json(self) -> Any:
        assert self.status == 200, (self.status, self.body)
        assert_legacy_answer(self)
        return json.loads(self.body)


def assert_legacy_answer(answer: Answer) -> None:
    """Legacy clients get the bare payload: no zstd, no anki-original-size."""
    assert "anki-original-size" not in answer.headers
    assert "content-encoding" not in answer.headers
    assert not answer.body.startswith(ZSTD_MAGIC)


class Wire:
    """Raw HTTP to the app, with or without Content-Length."""

    def __init__(self, client: SyncClient) -> None:
        self.app, self.http = client.app, client.http

    def post(self, path: str, body: bytes, *, content_type: str | None = None,
             chunked: bool = False) -> Answer:
        headers = {"Content-Type": content_type or f"multipart/form-data; boundary={BOUNDARY}"}
        if not chunked:
            return _answer(self.http.simulate_post(path, headers=headers, body=body))
        env = testing.create_environ(method="POST", path=path,
                                     headers={**headers, "Transfer-Encoding": "chunked"})
        env.pop("CONTENT_LENGTH", None)
        env["wsgi.input"] = io.BytesIO(body)
        start_response = testing.StartResponseMock()
        data = testing.closed_wsgi_iterable(
            wsgiref.validate.validator(self.app)(env, start_response))
        assert start_response.status is not None and start_response.headers is not None
        return _answer(testing.Result(data, start_response.status, start_response.headers))

    def call(self, path: str, parts: list[Part], **kwargs: Any) -> Answer:
        return self.post(path, form(parts), **kwargs)

    def get(self, path: str, query: str = "") -> Answer:
        return _answer(self.http.simulate_get(path, query_string=query))

    # The calls a 2.1.54 client makes.
    def host_key(self, user: str, password: str, path: str = "/sync/hostKey") -> Answer:
        payload = json.dumps({"u": user, "p": password}).encode()
        return self.call(path, parts_for(payload))

    def meta(self, key: str, path: str = "/sync/meta", value: Any = None) -> Answer:
        payload = json.dumps(META if value is None else value).encode()
        return self.call(path, parts_for(payload, k=key, s=SESSION))

    def begin(self, key: str, path: str = "/msync/begin") -> Answer:
        return self.get(path, f"k={key}&v=anki%2C2.1.54+%28b6a7760c%29%2Clinux")

    def media(self, method: str, sk: str | None, payload: bytes) -> Answer:
        # NOTE: Rust media code of 2.1.22-2.1.56 sends `data` raw, with no `c` part.
        return self.call(f"/msync/{method}", parts_for(payload, c=None, sk=sk))

    def media_json(self, method: str, sk: str | None, value: Any) -> Answer:
        return self.media(method, sk, json.dumps(value).encode())


def _answer(result: testing.Result) -> Answer:
    headers = {k.lower(): v for k, v in result.headers.items()}
    return Answer(result.status_code, result.content, headers)


# ---- fixtures ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    running = start_api(tmp_path_factory.mktemp("legacy-http"))
    yield running
    running.close()


@pytest.fixture
def wire(api: Api) -> Wire:
    return Wire(api.client)


@pytest.fixture(scope="module")
def account(api: Api) -> Account:
    """One account for the tests that change nothing (or check that nothing changed)."""
    return api.new_account()


@pytest.fixture
def fresh(api: Api) -> Account:
    """A new account, for tests that change what the server holds."""
    return api.new_account()


@pytest.fixture(scope="module")
def schema11(tmp_path_factory: pytest.TempPathFactory) -> CollectionFile:
    """A collection closed as schema 11, as 2.1.28-2.1.56 upload it."""
    return build(tmp_path_factory.mktemp("schema11"), ["legacy one", "ünï 漢字"],
                 reviews=1, downgrade=True)


def mod_of(wire: Wire, account: Account) -> int:
    return int(wire.meta(account.key).json()["mod"])


def media_usn(wire: Wire, account: Account) -> int:
    return int(wire.begin(account.key).json()["data"]["usn"])


def upload_zip(files: Mapping[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        meta = []
        for i, (name, data) in enumerate(files.items()):
            zf.writestr(str(i), data)
            meta.append([name, str(i)])
        zf.writestr("_meta", json.dumps(meta))
    return out.getvalue()


# ---- the envelope works like 2.1.54 expects ----------------------------------------------

def test_host_key_meta_upload_and_download_answer_with_bare_payloads(
    wire: Wire, fresh: Account, schema11: CollectionFile, tmp_path: Path
) -> None:
    key = wire.host_key(fresh.name, fresh.password).json()["key"]
    meta = wire.meta(key).json()
    assert meta["cont"] is True and meta["empty"] is True and meta["hostNum"] == 0
    # NOTE: 2.1.54 sends the upload chunked; AnkiDroid sends download without `data`.
    upload = wire.call("/sync/upload", parts_for(schema11.data, k=key, s=SESSION),
                       chunked=True)
    assert (upload.status, upload.body) == (200, b"OK")
    assert_legacy_answer(upload)
    download = wire.call("/sync/download", parts_for(None, k=key, s=SESSION))
    assert download.status == 200
    assert_legacy_answer(download)
    assert download.body.startswith(b"SQLite format 3\x00")
    (tmp_path / "down.anki2").write_bytes(download.body)
    assert read_col(tmp_path / "down.anki2")[0] == 11


def test_a_collection_a_current_client_uploaded_reaches_a_legacy_client_as_schema_11(
    api: Api, wire: Wire, fresh: Account, tmp_path: Path
) -> None:
    """The file a current client uploads is schema 18, which Anki before 2.1.50 cannot
    open: the download kept for current clients is not what legacy ones get."""
    current = build(tmp_path / "current", ["from a current client"], reviews=1)
    assert current.schema == 18
    assert api.client.upload(fresh.key, current.data).text() == "OK"
    for _ in range(2):  # built, then kept: schema 11 both times
        download = wire.call("/sync/download", parts_for(None, k=fresh.key, s=SESSION))
        assert download.status == 200
        (tmp_path / "down.anki2").write_bytes(download.body)
        assert read_col(tmp_path / "down.anki2")[0] == 11
        assert read_rows(tmp_path / "down.anki2") == current.rows
    newer = api.client.download(fresh.key).payload  # a current client gets schema 11 too
    (tmp_path / "current.anki2").write_bytes(newer)
    assert read_col(tmp_path / "current.anki2")[0] == 11


def test_host_key_with_a_wrong_password_is_refused_with_403(
    wire: Wire, account: Account
) -> None:
    assert wire.host_key(account.name, account.password + "x").status == 403


def test_an_empty_gzip_data_part_counts_as_an_empty_payload(
    wire: Wire, account: Account
) -> None:
    # NOTE: AnkiDroid omits `data` or sends it empty for argument-less calls (§1.4, §1.6).
    answer = wire.call("/sync/download", [("data", b""), ("c", b"1"),
                                          ("k", account.key.encode()), ("s", b"x")])
    assert answer.status == 200 and answer.body.startswith(b"SQLite format 3\x00")


def test_meta_without_a_data_part_is_a_bad_request(wire: Wire, account: Account) -> None:
    # A missing `data` is the payload {} (§1.4), and meta requires "v": 400, like the
    # official server's JSON error for a MetaRequest without its fields.
    answer = wire.call("/sync/meta", parts_for(None, k=account.key, s=SESSION))
    assert answer.status == 400


def test_meta_declaring_sync_version_7_is_refused_as_too_old(
    wire: Wire, account: Account
) -> None:
    # 501 makes clients say "your Anki version is too old" (§6).
    assert wire.meta(account.key, value={"v": 7, "cv": "anki,2.0.52,linux"}).status == 501
    assert wire.meta(account.key, value=META).status == 200


def test_legacy_answers_are_plain_even_for_errors(wire: Wire, account: Account) -> None:
    answer = wire.meta(account.key + "x")
    assert answer.status == 403 and answer.body == b"403"
    assert_legacy_answer(answer)


def _refused_requests(key: str) -> dict[str, tuple[bytes, bool, int]]:
    """Requests refused after their `data` part was spooled: (body, chunked, status)."""
    good = form(parts_for(json.dumps(META).encode(), k=key, s=SESSION))
    wrong_key = form(parts_for(json.dumps(META).encode(), k=key + "x", s=SESSION))
    too_big = form([("data", bytes(MAX_BODY + 1024)), ("c", b"0"), ("k", key.encode())])
    return {"wrong-key": (wrong_key, False, 403), "cut-short": (good[:-30], False, 400),
            "too-big": (too_big, True, 413)}


@pytest.mark.parametrize("case", ["wrong-key", "cut-short", "too-big"])
def test_refused_request_closes_its_spooled_data_part(
    wire: Wire, account: Account, case: str
) -> None:
    body, chunked, status = _refused_requests(account.key)[case]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        answer = wire.post("/sync/upload" if case == "too-big" else "/sync/meta", body,
                           chunked=chunked)
        gc.collect()
    assert answer.status == status
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert unclosed == []


# ---- bad envelopes: 4xx and nothing changed ----------------------------------------------

@pytest.mark.parametrize(
    ("c", "data", "why"),
    [
        pytest.param("1", json.dumps(META).encode(), "c=1 but data is not gzip", id="c1-raw"),
        pytest.param("0", gzip.compress(json.dumps(META).encode()),
                     "c=0: the gzip bytes are read as JSON", id="c0-gzip"),
        pytest.param("1", gzip.compress(json.dumps(META).encode())[:-6], "truncated gzip",
                     id="truncated"),
        pytest.param("1", gzip.compress(json.dumps(META).encode()) + b"junk",
                     "bytes after the gzip stream", id="trailing"),
    ],
)
def test_data_that_does_not_match_its_c_flag_is_a_bad_request(
    wire: Wire, account: Account, c: str, data: bytes, why: str
) -> None:
    parts = [("data", data), ("c", c.encode()), ("k", account.key.encode()),
             ("s", SESSION.encode())]
    assert wire.call("/sync/meta", parts).status == 400, why


def test_truncated_gzip_upload_is_refused_and_changes_nothing(
    wire: Wire, account: Account, schema11: CollectionFile
) -> None:
    before = mod_of(wire, account)
    body = gzip.compress(schema11.data)
    for cut in (body[: len(body) // 2], body[:-4]):
        parts = [("data", cut), ("c", b"1"), ("k", account.key.encode()), ("s", b"x")]
        assert wire.call("/sync/upload", parts, chunked=True).status == 400
    assert mod_of(wire, account) == before


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """Zeros that decompress past the 3 MiB payload limit but are tiny on the wire."""
    bomb = gzip.compress(bytes(MAX_DECOMPRESSED + MIB), compresslevel=9)
    assert len(bomb) < MAX_BODY // 10
    return bomb


@pytest.mark.parametrize("method", ["meta", "upload"])
def test_gzip_bomb_past_the_decompressed_limit_is_refused_with_413(
    wire: Wire, account: Account, gzip_bomb: bytes, method: str
) -> None:
    before = mod_of(wire, account)
    parts = [("data", gzip_bomb), ("c", b"1"), ("k", account.key.encode()), ("s", b"x")]
    assert wire.call(f"/sync/{method}", parts).status == 413
    assert mod_of(wire, account) == before


def test_gzip_bomb_in_a_media_upload_is_refused_and_changes_nothing(
    wire: Wire, account: Account, gzip_bomb: bytes
) -> None:
    before = media_usn(wire, account)
    parts = [("data", gzip_bomb), ("c", b"1"), ("sk", account.key.encode())]
    assert wire.call("/msync/uploadChanges", parts).status == 413
    assert media_usn(wire, account) == before


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_over_the_limit_is_refused_with_413(
    wire: Wire, account: Account, schema11: CollectionFile, chunked: bool
) -> None:
    before = mod_of(wire, account)
    padding = bytes(range(256)) * (MAX_BODY // 256 + 1024)  # > 1 MiB on the wire
    parts = [("data", schema11.data + padding), ("c", b"0"), ("k", account.key.encode()),
             ("s", b"x")]
    assert wire.call("/sync/upload", parts, chunked=chunked).status == 413
    assert mod_of(wire, account) == before


def test_plain_body_without_anki_sync_header_is_a_bad_request(
    wire: Wire, account: Account
) -> None:
    body = json.dumps(META).encode()
    assert wire.post("/sync/meta", body, content_type="application/json").status == 400
    assert wire.post("/sync/meta", gzip.compress(body),
                     content_type="application/octet-stream").status == 400


def test_multipart_without_a_boundary_is_a_bad_request(wire: Wire, account: Account) -> None:
    body = form(parts_for(json.dumps(META).encode(), k=account.key, s=SESSION))
    assert wire.post("/sync/meta", body, content_type="multipart/form-data").status == 400
    assert wire.post("/sync/meta", body,
                     content_type='multipart/form-data; boundary=""').status == 400


def test_multipart_with_a_different_boundary_than_declared_is_a_bad_request(
    wire: Wire, account: Account
) -> None:
    body = form(parts_for(json.dumps(META).encode(), k=account.key, s=SESSION), "other")
    assert wire.post("/sync/meta", body).status == 400


def test_form_with_too_many_parts_is_a_bad_request(wire: Wire, account: Account) -> None:
    parts = parts_for(json.dumps(META).encode(), k=account.key, s=SESSION)
    parts += [(f"extra{i}", b"x") for i in range(100)]
    assert wire.call("/sync/meta", parts).status == 400


def test_oversized_text_field_is_a_bad_request(wire: Wire, account: Account) -> None:
    parts = parts_for(json.dumps(META).encode(), k="k" * 100_000, s=SESSION)
    assert wire.call("/sync/meta", parts).status in (400, 413)


# ---- media: GET begin, sk credentials ----------------------------------------------------

def test_get_msync_begin_answers_the_host_key_as_sk_uncompressed(
    wire: Wire, account: Account
) -> None:
    answer = wire.get("/msync/begin", f"k={account.key}&v=x")
    assert answer.status == 200
    assert_legacy_answer(answer)
    assert json.loads(answer.body) == {"data": {"usn": 0, "sk": account.key}, "err": ""}


def test_get_msync_begin_without_v_is_a_bad_request(wire: Wire, account: Account) -> None:
    assert wire.get("/msync/begin", f"k={account.key}").status == 400
    assert wire.get("/msync/begin", f"k={account.key}&v=").status == 400


def test_get_msync_begin_with_a_wrong_key_is_refused(wire: Wire, account: Account) -> None:
    assert wire.get("/msync/begin", f"k={account.key}x&v=x").status == 403
    assert wire.get("/msync/begin", "v=x").status == 403


def test_get_is_only_allowed_for_begin(wire: Wire, account: Account) -> None:
    assert wire.get("/msync/mediaChanges", f"k={account.key}&v=x").status in (404, 405)
    assert wire.get("/sync/meta", f"k={account.key}&v=x").status in (404, 405)


def test_media_calls_authenticate_with_sk(wire: Wire, fresh: Account) -> None:
    sk = wire.begin(fresh.key).json()["data"]["sk"]
    uploaded = wire.media("uploadChanges", sk, upload_zip({"a.txt": b"legacy media"}))
    assert uploaded.json() == {"data": [1, 1], "err": ""}
    changes = wire.media_json("mediaChanges", sk, {"lastUsn": 0}).json()
    assert [c[:2] for c in changes["data"]] == [["a.txt", 1]]
    download = wire.media_json("downloadFiles", sk, {"files": ["a.txt"]})
    assert download.status == 200
    assert_legacy_answer(download)
    with zipfile.ZipFile(io.BytesIO(download.body)) as zf:
        assert json.loads(zf.read("_meta")) == {"0": "a.txt"}
        assert zf.read("0") == b"legacy media"
    assert wire.media_json("mediaSanity", sk, {"local": 1}).json() == {"data": "OK",
                                                                       "err": ""}


@pytest.mark.parametrize("sk", [None, "", "not-a-key"], ids=["missing", "empty", "wrong"])
def test_media_calls_without_a_valid_sk_are_refused_and_change_nothing(
    wire: Wire, account: Account, sk: str | None
) -> None:
    before = media_usn(wire, account)
    assert wire.media("uploadChanges", sk, upload_zip({"b.txt": b"b"})).status == 403
    assert wire.media_json("mediaChanges", sk, {"lastUsn": 0}).status == 403
    assert media_usn(wire, account) == before


def test_python_era_media_calls_with_gzip_data_work(wire: Wire, account: Account) -> None:
    # NOTE: Python media code (<= 2.1.21) posts begin with k, v and gzip "{}", then gzips
    # the JSON of the other calls.
    begin = wire.call("/msync/begin", [("data", gzip.compress(b"{}")), ("c", b"1"),
                                       ("k", account.key.encode()), ("v", b"ankidesktop,2.1.15")])
    sk = begin.json()["data"]["sk"]
    changes = wire.call("/msync/mediaChanges",
                        parts_for(json.dumps({"lastUsn": 0}).encode(), c="1", sk=sk))
    assert changes.json() == {"data": [], "err": ""}


# ---- URL variants ------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/sync/meta", "/sync/meta/", "//sync//meta", "/sync//meta",
                                  "/djs/sync/meta", "/djs/sync/meta/"])
def test_meta_url_variants(wire: Wire, account: Account, path: str) -> None:
    assert wire.meta(account.key, path=path).json()["cont"] is True


@pytest.mark.parametrize("path", ["/msync/begin", "/msync//begin", "/msync/begin/",
                                  "/djs/msync/begin", "//djs/msync/begin"])
def test_media_begin_url_variants(wire: Wire, account: Account, path: str) -> None:
    assert wire.begin(account.key, path=path).json()["data"]["sk"] == account.key


def test_host_key_under_djankiserv_prefix(wire: Wire, account: Account) -> None:
    answer = wire.host_key(account.name, account.password, path="/djs/sync/hostKey")
    assert answer.json()["key"]


@pytest.fixture(scope="module")
def based(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Wire, Account]]:
    """The app configured with ANKISERV_BASE_PATH=/anki/ (a reverse-proxy sub-path)."""
    data_dir = tmp_path_factory.mktemp("legacy-base-path")
    settings = Settings.from_env({"ANKISERV_DATA_DIR": str(data_dir),
                                  "ANKISERV_BASE_PATH": "/anki/"})
    assert settings.base_path == "/anki/"
    services = build_services(settings, migrate=True)
    client = SyncClient(build_app(settings, services))
    api = Api(client, services, settings)
    try:
        yield Wire(client), api.new_account(login=False)
    finally:
        api.close()


def test_base_path_serves_sync_and_media_under_it_only(based: tuple[Wire, Account]) -> None:
    wire, account = based
    key = wire.host_key(account.name, account.password, path="/anki/sync/hostKey").json()["key"]
    assert wire.meta(key, path="/anki/sync/meta").json()["cont"] is True
    assert wire.meta(key, path="/anki//sync/meta/").json()["cont"] is True
    assert wire.begin(key, path="/anki/msync/begin").json()["data"]["sk"] == key
    assert wire.meta(key, path="/sync/meta").status == 404
    assert wire.begin(key, path="/msync/begin").status == 404
    assert wire.meta(key, path="/ankisync/meta").status == 404
