"""Body size limits with `max_payload_mb=1`: 1 MiB compressed, 3 MiB decompressed (§1.7)."""

from __future__ import annotations

import os
import resource
import tracemalloc
from pathlib import Path

import pytest

from tests.http.anki_files import read_col, read_rows
from tests.http.conftest import AnkiFiles
from tests.http.harness import MAX_PAYLOAD_MB, MIB, Account, Api
from tests.http.wire import SYNC_HEADER, decode, frame, header_value, streamed_frame

MAX_BODY = MAX_PAYLOAD_MB * MIB
MAX_DECOMPRESSED = 3 * MAX_PAYLOAD_MB * MIB
CORRUPT = "Your upload was corrupt. Please use Check Database, or restore from backup."
GIB = 1024 * MIB


def random_frame_of_length(length: int) -> bytes:
    """A frame of incompressible bytes whose compressed size is exactly `length`."""
    payload_size = length
    for _ in range(10):
        body = frame(os.urandom(payload_size))
        if len(body) == length:
            return body
        payload_size -= len(body) - length
    raise AssertionError(f"could not build a {length}-byte frame")


@pytest.fixture(scope="module")
def zero_bomb() -> bytes:
    """1 GiB of zeros as one streamed frame (no content size): about 32 KiB on the wire."""
    bomb = streamed_frame(bytes(16 * MIB), GIB // (16 * MIB))
    assert len(bomb) < MAX_BODY
    return bomb


def upload_body(api: Api, account: Account, body: bytes, *, chunked: bool) -> int:
    headers = {SYNC_HEADER: header_value(account.key)}
    return decode(api.client.post_raw("upload", body, headers=headers, chunked=chunked)).status


def assert_still_holds(api: Api, account: Account, expected_mod: int) -> None:
    assert api.client.meta(account.key).json()["mod"] == expected_mod


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_compressed_body_over_the_limit_is_refused_with_413(
    sqlite_api: Api, account: Account, chunked: bool
) -> None:
    body = random_frame_of_length(MAX_BODY + 64 * 1024)
    assert upload_body(sqlite_api, account, body, chunked=chunked) == 413
    assert_still_holds(sqlite_api, account, 0)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_compressed_body_one_byte_over_the_limit_is_refused(
    sqlite_api: Api, account: Account, chunked: bool
) -> None:
    body = random_frame_of_length(MAX_BODY + 1)
    assert upload_body(sqlite_api, account, body, chunked=chunked) == 413


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_compressed_body_exactly_at_the_limit_is_accepted(
    sqlite_api: Api, account: Account, chunked: bool
) -> None:
    body = random_frame_of_length(MAX_BODY)
    headers = {SYNC_HEADER: header_value(account.key)}
    reply = decode(sqlite_api.client.post_raw("upload", body, headers=headers, chunked=chunked))
    assert reply.text() == CORRUPT  # read in full and judged, not refused for its size


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_login_body_is_refused_before_any_password_check(
    sqlite_api: Api, chunked: bool
) -> None:
    body = random_frame_of_length(MAX_BODY + 1024)
    result = sqlite_api.client.post_raw("hostKey", body, headers={SYNC_HEADER: header_value()},
                                        chunked=chunked)
    assert decode(result).status == 413


def test_payload_decompressing_to_exactly_the_limit_is_accepted(
    sqlite_api: Api, account: Account
) -> None:
    assert sqlite_api.client.upload(account.key, bytes(MAX_DECOMPRESSED)).text() == CORRUPT


@pytest.mark.parametrize("content_size", [False, True], ids=["streamed", "with-size"])
def test_payload_decompressing_one_byte_over_the_limit_is_refused(
    sqlite_api: Api, account: Account, content_size: bool
) -> None:
    reply = sqlite_api.client.upload(account.key, bytes(MAX_DECOMPRESSED + 1),
                                     content_size=content_size)
    assert reply.status == 413


def test_small_json_bomb_on_meta_is_refused_with_413(
    sqlite_api: Api, account: Account
) -> None:
    payload = b'{"v":11,"cv":"' + b" " * MAX_DECOMPRESSED + b'"}'
    assert sqlite_api.client.post("meta", payload, key=account.key).status == 413


def test_zstd_bomb_upload_is_refused_and_nothing_is_stored(
    backend_api: Api, anki_files: AnkiFiles, zero_bomb: bytes, tmp_path: Path
) -> None:
    client = backend_api.client
    account = backend_api.new_account()
    assert client.upload(account.key, anki_files.alpha18.data).text() == "OK"
    for chunked in (False, True):
        assert upload_body(backend_api, account, zero_bomb, chunked=chunked) == 413
    path = tmp_path / "after.anki2"
    path.write_bytes(client.download(account.key).payload)
    assert read_rows(path) == anki_files.alpha18.rows
    assert read_col(path)[1:] == anki_files.alpha18.col[1:]


def test_zstd_bomb_does_not_make_the_server_allocate_hundreds_of_mb(
    sqlite_api: Api, account: Account, zero_bomb: bytes
) -> None:
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    tracemalloc.start()
    try:
        status = upload_body(sqlite_api, account, zero_bomb, chunked=True)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_growth_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert status == 413
    assert peak < 64 * MIB, f"peak Python allocation {peak / MIB:.0f} MiB"
    assert rss_growth_mib < 200, f"peak RSS grew by {rss_growth_mib:.0f} MiB"
