"""The v11 envelope: `anki-sync` header, zstd bodies and answers (protocol §1.3, §1.5)."""

from __future__ import annotations

import json

import pytest

from tests.http.harness import Account, Api
from tests.http.wire import (
    SYNC_HEADER,
    declares_content_size,
    decode,
    frame,
    header_value,
    unframe,
)

META = json.dumps({"v": 11, "cv": "anki,26.09.3 (29bb700b),linux"}).encode()


def post(api: Api, method: str, body: bytes, header: str | None) -> int:
    headers = {} if header is None else {SYNC_HEADER: header}
    return decode(api.client.post_raw(method, body, headers=headers)).status


def test_frame_helper_makes_frames_with_and_without_content_size() -> None:
    # The helper must produce both kinds, or the tests below prove less than they claim.
    assert not declares_content_size(frame(META))
    assert declares_content_size(frame(META, content_size=True))
    assert unframe(frame(META)) == unframe(frame(META, content_size=True)) == META


@pytest.mark.parametrize("content_size", [False, True], ids=["streamed", "with-size"])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_meta_accepts_frames_with_or_without_size_and_any_framing(
    sqlite_api: Api, account: Account, content_size: bool, chunked: bool
) -> None:
    reply = sqlite_api.client.meta(account.key, content_size=content_size, chunked=chunked)
    assert reply.json()["cont"] is True


def test_request_without_anki_sync_header_is_a_bad_request(
    sqlite_api: Api, account: Account
) -> None:
    assert post(sqlite_api, "meta", frame(META), None) == 400
    assert post(sqlite_api, "hostKey", frame(b'{"u":"a","p":"b"}'), None) == 400


def test_header_field_names_are_case_insensitive(sqlite_api: Api, account: Account) -> None:
    result = sqlite_api.client.post_raw(
        "meta", frame(META), headers={"Anki-Sync": header_value(account.key)}
    )
    assert decode(result).status == 200


def _header(account: Account, **fields: object) -> str:
    base: dict[str, object] = {"v": 11, "k": account.key, "c": "26.09.3,29bb700b,linux",
                               "s": "abc"}
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not _DROP})


_DROP = object()


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("not json", id="not-json"),
        pytest.param("", id="empty"),
        pytest.param("[11]", id="array"),
        pytest.param('"{}"', id="string"),
        pytest.param("null", id="null"),
        pytest.param('{"v":11,"k":"x","c":"y","s":"z"', id="cut-short"),
    ],
)
def test_header_that_is_not_a_json_object_is_a_bad_request(
    sqlite_api: Api, account: Account, header: str
) -> None:
    assert post(sqlite_api, "meta", frame(META), header) == 400


@pytest.mark.parametrize("missing", ["v", "k", "c", "s"])
def test_header_missing_a_field_is_a_bad_request(
    sqlite_api: Api, account: Account, missing: str
) -> None:
    # NOTE: a missing "k" is an envelope error (400), as on the official server; only a
    # present but invalid key is an authentication failure (403).
    assert post(sqlite_api, "meta", frame(META), _header(account, **{missing: _DROP})) == 400


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"v": "11"}, id="v-string"),
        pytest.param({"v": 11.5}, id="v-float"),
        pytest.param({"v": True}, id="v-bool"),
        pytest.param({"v": None}, id="v-null"),
        pytest.param({"k": 12345}, id="k-number"),
        pytest.param({"k": None}, id="k-null"),
        pytest.param({"c": ["26.09.3"]}, id="c-list"),
        pytest.param({"s": 7}, id="s-number"),
    ],
)
def test_header_field_of_the_wrong_type_is_a_bad_request(
    sqlite_api: Api, account: Account, fields: dict[str, object]
) -> None:
    assert post(sqlite_api, "meta", frame(META), _header(account, **fields)) == 400


def test_the_well_formed_header_used_above_is_accepted(sqlite_api: Api, account: Account
                                                       ) -> None:
    # Control for the bad-header tests: only the mutation makes them fail.
    assert post(sqlite_api, "meta", frame(META), _header(account)) == 200


@pytest.mark.parametrize("version", [0, 7, 12, 99, -11])
def test_header_sync_version_outside_8_to_11_is_a_bad_request(
    sqlite_api: Api, account: Account, version: int
) -> None:
    assert post(sqlite_api, "meta", frame(META), _header(account, v=version)) == 400
    assert post(sqlite_api, "hostKey", frame(b"{}"), _header(account, v=version)) == 400


@pytest.mark.parametrize("version", [8, 9, 10, 11])
def test_header_sync_versions_8_to_11_are_accepted(
    sqlite_api: Api, account: Account, version: int
) -> None:
    assert post(sqlite_api, "meta", frame(META), _header(account, v=version)) == 200


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"this is not zstd at all", id="text"),
        pytest.param(META, id="uncompressed-json"),
        pytest.param(b"\x1f\x8b\x08\x00" + b"\x00" * 20, id="gzip-magic"),
        pytest.param(b"\x28\xb5\x2f\xfd" + b"\xff" * 16, id="zstd-magic-then-garbage"),
    ],
)
def test_body_that_is_not_zstd_is_a_bad_request(
    sqlite_api: Api, account: Account, body: bytes
) -> None:
    assert post(sqlite_api, "meta", body, header_value(account.key)) == 400


@pytest.mark.parametrize("content_size", [False, True], ids=["streamed", "with-size"])
def test_truncated_zstd_frame_is_a_bad_request(
    sqlite_api: Api, account: Account, content_size: bool
) -> None:
    body = frame(META, content_size=content_size)
    for cut in (1, 3, len(body) // 2):
        assert post(sqlite_api, "meta", body[:-cut], header_value(account.key)) == 400, cut


@pytest.mark.parametrize(
    "trailer",
    [
        pytest.param(b"garbage after the frame", id="text"),
        pytest.param(b"\x00", id="one-byte"),
        pytest.param(b"\x28\xb5\x2f\xfd", id="start-of-another-frame"),
    ],
)
def test_trailing_garbage_after_the_frame_is_a_bad_request(
    sqlite_api: Api, account: Account, trailer: bytes
) -> None:
    assert post(sqlite_api, "meta", frame(META) + trailer, header_value(account.key)) == 400


def test_empty_body_on_meta_is_a_bad_request(sqlite_api: Api, account: Account) -> None:
    # Documented behaviour: an empty body decodes to an empty payload, read as `{}`; meta
    # then lacks its required "v" and the schema rejects it with 400 (what Anki reports
    # as "please check the database"). Clients always send {"v": ..., "cv": ...}.
    assert post(sqlite_api, "meta", b"", header_value(account.key)) == 400
    assert sqlite_api.client.post("meta", b"", key=account.key).status == 400


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b'{"v": 11,', id="cut-short"),
        pytest.param(b"{'v': 11}", id="single-quotes"),
        pytest.param(b"\xff\xfe{}", id="not-utf8"),
        pytest.param(b"[11]", id="array"),
        pytest.param(b'{"v": "eleven"}', id="v-not-a-number"),
    ],
)
def test_invalid_json_payload_is_a_bad_request(
    sqlite_api: Api, account: Account, payload: bytes
) -> None:
    assert sqlite_api.client.post("meta", payload, key=account.key).status == 400


def test_unknown_endpoint_is_not_found(sqlite_api: Api, account: Account) -> None:
    assert sqlite_api.client.post_json("foo", {}, key=account.key).status == 404
    assert post(sqlite_api, "foo", b"", None) == 404


def test_health_answers_200(sqlite_api: Api) -> None:
    result = sqlite_api.client.http.simulate_get("/health")
    assert result.status_code == 200
    assert "content-encoding" not in {k.lower() for k in result.headers}


def test_successful_answers_are_zstd_with_original_size(sqlite_api: Api, account: Account
                                                        ) -> None:
    result = sqlite_api.client.post_raw("meta", frame(META), headers={
        SYNC_HEADER: header_value(account.key)})
    assert result.status_code == 200
    size = int(result.headers["anki-original-size"])
    assert size == len(unframe(result.content))
    assert result.content[:4] == b"\x28\xb5\x2f\xfd"


@pytest.mark.parametrize("method", ["meta", "hostKey"])
def test_deeply_nested_json_payload_is_a_bad_request(
    sqlite_api: Api, account: Account, method: str
) -> None:
    payload = b"[" * 100_000 + b"]" * 100_000  # 200 kB: well inside the size limits
    assert sqlite_api.client.post(method, payload, key=account.key).status == 400


def test_deeply_nested_anki_sync_header_is_a_bad_request(sqlite_api: Api) -> None:
    # 5000 bytes: under the 8 KiB header line limit of gunicorn and most proxies.
    assert post(sqlite_api, "meta", frame(META), "[" * 5000) == 400
