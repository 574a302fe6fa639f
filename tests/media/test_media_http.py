"""Media sync over HTTP (in process, every backend): what is refused, and what is answered.

Every refused upload must leave the server exactly as it was: the index (`mediaChanges`
from 0), the media usn in `meta`, and every file in the user's blob folder.
"""

from __future__ import annotations

import json
import os
import unicodedata
import uuid
import zipfile
from typing import Any

import pytest
from sqlalchemy import func, select

from adapters.media.zips import store_upload
from adapters.sql.tables import media_files, media_state
from domain.media import UploadedChange
from domain.model import UserId
from tests.http.wire import header_value
from tests.media.support import (
    MAX_PAYLOAD_MB,
    MEDIA_MAX_FILE_MB,
    MIB,
    Account,
    MediaApi,
    assert_blobs_whole,
    build_zip,
    files_under,
    read_download,
    sha1,
    upload_zip,
    with_damaged_member,
    with_declared_size,
)

SEED = {"keep.txt": b"hello", "zwei.txt": b"second file"}
MAX_FILE = MEDIA_MAX_FILE_MB * MIB


def seeded(api: MediaApi, account: Account) -> tuple[Any, ...]:
    """Give the user two files, so that "nothing changed" has something to lose."""
    assert api.media.upload_ok(account.key, SEED) == [2, 2]
    return unchanged_seed(api, account)


def unchanged_seed(api: MediaApi, account: Account) -> tuple[Any, ...]:
    before = api.snapshot(account)
    assert is_seed(before), before
    return before


def is_seed(snapshot: tuple[Any, ...]) -> bool:
    changes, usn, files = snapshot
    return bool(
        changes == [[n, i + 1, sha1(d)] for i, (n, d) in enumerate(SEED.items())]
        and usn == 2
        and sorted(files.values()) == sorted(map(sha1, SEED.values()))
    )


@pytest.fixture(scope="module")
def seed_cache() -> dict[str, Account]:
    return {}


@pytest.fixture
def seeded_account(media_api: MediaApi, seed_cache: dict[str, Account]) -> Account:
    """A user holding just the two seed files. Tests of refused uploads share one (each
    checks that its refusal changed nothing); once a test changed it, the next gets a
    new one, so one failure does not fail every later test."""
    backend = media_api.services.engine.dialect.name
    account = seed_cache.get(backend)
    if account is None or not is_seed(media_api.snapshot(account)):
        account = media_api.new_account()
        seeded(media_api, account)
        seed_cache[backend] = account
    return account


def assert_refused(
    api: MediaApi, account: Account, body: bytes, status: int, before: tuple[Any, ...]
) -> None:
    reply = api.media.upload(account.key, body)
    assert reply.status == status, (reply.status, reply.payload)
    assert api.snapshot(account) == before


# --- names -------------------------------------------------------------------------------

BAD_NAMES = {
    "slash": "dir/a.txt",
    "backslash": "dir\\a.txt",
    "dotdot": "..",
    "dot": ".",
    "parent": "../a.txt",
    "absolute": "/etc/passwd",
    "nul": "a\x00b.txt",
    "control": "a\x01b.txt",
    "newline": "a\nb.txt",
    "delete-char": "a\x7fb.txt",
    "nfd": unicodedata.normalize("NFD", "café.txt"),
    "256-bytes": "é" * 128,
    "con": "CON",
    "nul-dot-txt": "nul.txt",
    "lpt1": "LPT1",
    "empty": "",
}


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_bad_name_is_refused_and_changes_nothing(
    media_api: MediaApi, seeded_account: Account, name: str
) -> None:
    account = seeded_account
    before = unchanged_seed(media_api, account)
    # A good entry first: the whole batch must be refused, not just the bad entry.
    for deletion in (None, ""):
        meta = [["fine.txt", "0"], [name, "1"]]
        body = build_zip({"0": b"fine", "1": b"bad name"}, meta=meta)
        assert_refused(media_api, account, body, 400, before)
        body = build_zip({"0": b"fine"}, meta=[["fine.txt", "0"], [name, deletion]])
        assert_refused(media_api, account, body, 400, before)


def test_names_at_the_limits_are_accepted(media_api: MediaApi, account: Account) -> None:
    names = [
        "é" * 127 + "a",
        "console.txt",
        "con_",
        "com10",
        'x[1]: "?".txt',
        "🙂.png",
        "...",
        ".hidden",
    ]
    files = {name: f"content of {name}".encode() for name in names}
    assert media_api.media.upload_ok(account.key, files) == [len(names), len(names)]
    listed = {fname: digest for fname, _usn, digest in media_api.media.changes(account.key)}
    assert listed == {name: sha1(data) for name, data in files.items()}


def test_names_differing_only_in_case_or_trailing_space_are_distinct(
    media_api: MediaApi, account: Account
) -> None:
    files = {
        "pad.txt": b"plain",
        "pad.txt ": b"trailing space",
        "PAD.txt": b"upper",
        "pád.txt": b"accent",
    }
    for name, data in files.items():  # one at a time: each must find only its own entry
        media_api.media.upload_ok(account.key, {name: data})
    listed = {fname: digest for fname, _usn, digest in media_api.media.changes(account.key)}
    assert listed == {name: sha1(data) for name, data in files.items()}
    for name, data in files.items():
        assert read_download(media_api.media.download(account.key, [name]).payload)[1] == {
            "0": data
        }


def test_name_that_is_not_unicode_is_refused(media_api: MediaApi, account: Account) -> None:
    before = seeded(media_api, account)
    body = build_zip({"0": b"surrogate"}, meta_raw=b'[["\\ud800.txt", "0"]]')
    assert_refused(media_api, account, body, 400, before)


# --- _meta and the zip itself ------------------------------------------------------------


def _meta_cases() -> dict[str, bytes]:
    one = {"0": b"data"}
    cases = {
        "meta-missing": build_zip(one),
        "meta-not-json": build_zip(one, meta_raw=b'[["a.txt", "0"]'),
        "meta-not-utf8": build_zip(one, meta_raw=b'[["\xff.txt", "0"]]'),
        "meta-object": build_zip(one, meta={"a.txt": "0"}),
        "meta-string": build_zip(one, meta="a.txt"),
        "meta-null": build_zip(one, meta_raw=b"null"),
        "meta-26-entries": build_zip(
            {str(i): b"x%d" % i for i in range(26)}, meta=[[f"f{i}.txt", str(i)] for i in range(26)]
        ),
        "meta-over-50k": build_zip(one, meta_raw=b'[["a.txt", "0"]' + b" " * 51_200 + b"]"),
        "member-missing": build_zip(one, meta=[["a.txt", "7"]]),
        "zero-byte-member": build_zip({"0": b""}, meta=[["a.txt", "0"]]),
        "not-a-zip": b"PK\x03\x04 this is not a zip file at all",
        "empty-body": b"",
        "52-members": build_zip({str(i): b"x%d" % i for i in range(51)}, meta=[["a.txt", "0"]]),
    }
    shapes: list[Any] = [
        [["a.txt"]],
        [["a.txt", "0", "x"]],
        [[1, "0"]],
        [["a.txt", 0]],
        ["a.txt"],
        [None],
        [{"a.txt": "0"}],
        [["a.txt", True]],
        [[]],
    ]
    for i, shape in enumerate(shapes):
        cases[f"entry-shape-{i}"] = build_zip(one, meta=shape)
    return cases


META_CASES = _meta_cases()


@pytest.mark.parametrize("body", META_CASES.values(), ids=META_CASES.keys())
def test_malformed_upload_is_refused_and_changes_nothing(
    media_api: MediaApi, seeded_account: Account, body: bytes
) -> None:
    before = unchanged_seed(media_api, seeded_account)
    assert_refused(media_api, seeded_account, body, 400, before)


def test_member_names_are_never_used_as_paths(media_api: MediaApi, account: Account) -> None:
    outside = f"/tmp/ankiserv-media-test-{uuid.uuid4().hex}.txt"
    members = {"../../../escaped.txt": b"dot dot", outside: b"absolute"}
    body = build_zip(members, meta=[["one.txt", "../../../escaped.txt"], ["two.txt", outside]])
    reply = media_api.media.upload(account.key, body)
    assert reply.status in (200, 400), reply.status
    assert not os.path.exists(outside)
    data_dir = media_api.settings.data_dir
    # From the user's blob folder (data/media/<id>/), "../../../" is the data dir's parent.
    assert not (data_dir.parent / "escaped.txt").exists()
    assert not list(data_dir.rglob("escaped.txt"))
    if reply.status == 200:
        listed = {f: d for f, _u, d in media_api.media.changes(account.key)}
        assert listed == {"one.txt": sha1(b"dot dot"), "two.txt": sha1(b"absolute")}


def test_51_members_are_still_accepted(media_api: MediaApi, account: Account) -> None:
    # 25 files, 25 spare members and _meta: the most a zip may hold.
    members = {str(i): b"x%d" % i for i in range(50)}
    body = build_zip(members, meta=[[f"f{i}.txt", str(i)] for i in range(25)])
    assert media_api.media.upload(account.key, body).json() == {"data": [25, 25], "err": ""}


def _bomb() -> bytes:
    """A member declaring 1,000 bytes whose deflate stream holds 5 MiB of zeros."""
    body = build_zip(
        {"0": bytes(5 * MIB)}, meta=[["bomb.bin", "0"]], compression=zipfile.ZIP_DEFLATED
    )
    return with_declared_size(body, "0", 1000)


def _size_cases() -> dict[str, tuple[bytes, int]]:
    deflated = zipfile.ZIP_DEFLATED
    over_file = build_zip({"0": bytes(MAX_FILE + 1)}, meta=[["big.bin", "0"]], compression=deflated)
    files = MAX_PAYLOAD_MB * 3 + 1  # each at the per-file limit; together past 3x payload
    over_total = build_zip(
        {str(i): bytes(MAX_FILE) for i in range(files)},
        meta=[[f"z{i}.bin", str(i)] for i in range(files)],
        compression=deflated,
    )
    declared_big = with_declared_size(
        build_zip({"0": b"tiny"}, meta=[["a.bin", "0"]]), "0", MAX_FILE + 1
    )
    return {
        "bomb-declared-small": (_bomb(), 400),
        "declared-over-max-file": (over_file, 413),
        "declared-over-max-file-forged": (declared_big, 413),
        "declared-total-over-3x-payload": (over_total, 413),
        "payload-over-3x-payload": (
            build_zip({"0": bytes(3 * MAX_PAYLOAD_MB * MIB + 1)}, meta=[["a.bin", "0"]]),
            413,
        ),
        "body-over-max-payload": (
            build_zip(
                {str(i): os.urandom(MIB // 2) for i in range(5)},
                meta=[[f"r{i}.bin", str(i)] for i in range(5)],
            ),
            413,
        ),
    }


SIZE_CASES = _size_cases()


@pytest.mark.parametrize(("body", "status"), SIZE_CASES.values(), ids=SIZE_CASES.keys())
def test_oversized_upload_is_refused_and_changes_nothing(
    media_api: MediaApi, seeded_account: Account, body: bytes, status: int
) -> None:
    before = unchanged_seed(media_api, seeded_account)
    assert_refused(media_api, seeded_account, body, status, before)


def test_damaged_member_is_refused_and_leaves_no_blob(
    media_api: MediaApi, seeded_account: Account
) -> None:
    account = seeded_account
    before = unchanged_seed(media_api, account)
    good = upload_zip({"new.txt": b"brand new content", "bad.txt": b"will be damaged"})
    assert_refused(media_api, account, with_damaged_member(good, "1"), 400, before)
    # Damaged first, then a good one: nothing of either.
    good = upload_zip({"bad.txt": b"will be damaged", "new.txt": b"brand new content"})
    assert_refused(media_api, account, with_damaged_member(good, "0"), 400, before)


def test_refused_upload_keeps_blob_shared_with_existing_file(
    media_api: MediaApi, account: Account
) -> None:
    before = seeded(media_api, account)
    good = upload_zip({"copy.txt": SEED["keep.txt"], "bad.txt": b"will be damaged"})
    assert_refused(media_api, account, with_damaged_member(good, "1"), 400, before)


def test_short_member_keeps_blob_shared_with_existing_file(
    media_api: MediaApi, account: Account
) -> None:
    before = seeded(media_api, account)
    # A stored member holding "hello" (keep.txt's bytes) but declaring 100 bytes.
    body = with_declared_size(upload_zip({"copy.txt": SEED["keep.txt"]}), "0", 100)
    assert_refused(media_api, account, body, 400, before)


def test_same_name_twice_in_one_upload_last_entry_wins(
    media_api: MediaApi, account: Account
) -> None:
    seeded(media_api, account)
    body = build_zip({"0": b"first", "1": b"second"}, meta=[["twice.txt", "0"], ["twice.txt", "1"]])
    assert media_api.media.upload(account.key, body).json()["data"][0] == 2
    listed = {f: d for f, _u, d in media_api.media.changes(account.key)}
    assert listed == {**{n: sha1(d) for n, d in SEED.items()}, "twice.txt": sha1(b"second")}
    reply = media_api.media.download(account.key, ["twice.txt"])
    assert read_download(reply.payload)[1] == {"0": b"second"}


def test_same_name_twice_in_one_upload_leaves_no_orphan_blob(
    media_api: MediaApi, account: Account
) -> None:
    body = build_zip({"0": b"first", "1": b"second"}, meta=[["twice.txt", "0"], ["twice.txt", "1"]])
    assert media_api.media.upload(account.key, body).status == 200
    listed = {f: d for f, _u, d in media_api.media.changes(account.key)}
    assert assert_blobs_whole(media_api.user_folder(account)) == set(listed.values())


# --- uploadChanges answers ---------------------------------------------------------------


def test_upload_answers_processed_and_usn_and_every_change_takes_a_usn(
    media_api: MediaApi, account: Account
) -> None:
    """The client moves its media usn to the server's only when the server's moved by
    the number of changes processed: changes that alter no file take a usn too."""
    media, key = media_api.media, account.key

    def answer(changes: dict[str, bytes | None], deletion: str | None = None) -> Any:
        return json.loads(media.upload(key, upload_zip(changes, deletion=deletion)).payload)

    assert answer({"a.txt": b"aaa", "b.txt": b"bbb"}) == {"data": [2, 2], "err": ""}
    assert answer({"a.txt": b"aaa"}) == {"data": [1, 3], "err": ""}  # identical re-upload
    assert answer({"never.txt": None}) == {"data": [1, 4], "err": ""}  # nothing to delete
    assert answer({"a.txt": b"AAA"}) == {"data": [1, 5], "err": ""}  # replaced
    assert answer({"a.txt": None}, deletion=None) == {"data": [1, 6], "err": ""}
    assert answer({"a.txt": None}, deletion="") == {"data": [1, 7], "err": ""}  # again
    assert answer({"b.txt": None}, deletion="") == {"data": [1, 8], "err": ""}
    assert answer({"b.txt": b"bbb", "a.txt": None}) == {"data": [2, 10], "err": ""}
    assert media.changes(key) == [["never.txt", 4, ""], ["b.txt", 9, sha1(b"bbb")],
                                  ["a.txt", 10, ""]]
    assert media_api.media_usn_in_meta(account) == 10
    assert set(files_under(media_api.user_folder(account)).values()) == {sha1(b"bbb")}


def test_python_client_deflated_upload_is_accepted(media_api: MediaApi, account: Account) -> None:
    body = upload_zip({"d.txt": b"deflated " * 100}, compression=zipfile.ZIP_DEFLATED)
    assert media_api.media.upload(account.key, body).json() == {"data": [1, 1], "err": ""}
    meta, members = read_download(media_api.media.download(account.key, ["d.txt"]).payload)
    assert (meta, members) == ({"0": "d.txt"}, {"0": b"deflated " * 100})


# --- begin, sanity -----------------------------------------------------------------------


def test_begin_answers_usn_and_host_key(media_api: MediaApi, account: Account) -> None:
    reply = media_api.media.begin(account.key)
    assert json.loads(reply.payload) == {"data": {"usn": 0, "sk": account.key}, "err": ""}
    media_api.media.upload_ok(account.key, {"a.txt": b"a", "b.txt": b"b"})
    reply = media_api.media.begin(account.key)
    assert json.loads(reply.payload) == {"data": {"usn": 2, "sk": account.key}, "err": ""}


@pytest.mark.parametrize(
    "payload",
    [{}, {"v": ""}, {"v": None}, {"v": 11}, []],
    ids=["missing", "empty", "null", "number", "list"],
)
def test_begin_without_client_version_is_refused(
    media_api: MediaApi, seeded_account: Account, payload: Any
) -> None:
    reply = media_api.media.call("begin", payload, key=seeded_account.key)
    assert reply.status == 400


def test_sanity_compares_present_files(media_api: MediaApi, account: Account) -> None:
    media, key = media_api.media, account.key
    media.upload_ok(key, {"a.txt": b"a", "b.txt": b"b", "c.txt": b"c"})
    media.upload_ok(key, {"b.txt": None})
    assert media.sanity(key, 2) == {"data": "OK", "err": ""}
    assert media.sanity(key, 3) == {"data": "mediaSanity", "err": ""}
    assert media.call("mediaSanity", {"local": "2"}, key=key).status == 400


# --- downloadFiles -----------------------------------------------------------------------


def test_download_of_more_than_25_files_is_refused(media_api: MediaApi, account: Account) -> None:
    names = [f"f{i}.txt" for i in range(26)]
    media_api.media.upload_ok(account.key, {n: n.encode() for n in names[:25]})
    assert media_api.media.download(account.key, names).status == 400
    assert media_api.media.download(account.key, names[:25]).status == 200


def test_download_of_unknown_or_deleted_file_conflicts(
    media_api: MediaApi, account: Account
) -> None:
    media, key = media_api.media, account.key
    media.upload_ok(key, {"here.txt": b"here", "gone.txt": b"gone"})
    media.upload_ok(key, {"gone.txt": None})
    assert media.download(key, ["here.txt", "gone.txt"]).status == 409
    assert media.download(key, ["never.txt"]).status == 409
    assert media.download(key, ["here.txt"]).status == 200


def test_download_zip_has_meta_object_and_numbered_members(
    media_api: MediaApi, account: Account
) -> None:
    media, key = media_api.media, account.key
    files = {"a.txt": b"alpha", "ünï 漢字 🙂.txt": b"unicode", "c.bin": bytes(range(256))}
    media.upload_ok(key, files)
    order = ["c.bin", "a.txt", "ünï 漢字 🙂.txt"]
    meta, members = read_download(media.download(key, order).payload)
    assert meta == {"0": "c.bin", "1": "a.txt", "2": "ünï 漢字 🙂.txt"}
    assert members == {str(i): files[name] for i, name in enumerate(order)}


def test_download_stops_after_the_file_passing_2_5_mib(
    media_api: MediaApi, account: Account
) -> None:
    media, key = media_api.media, account.key
    big = {f"big{i}.bin": os.urandom(900_000) for i in range(4)}
    for name, data in big.items():  # one per request: each is close to the body limit
        media.upload_ok(key, {name: data})
    media.upload_ok(key, {"small.txt": b"small", "tail.txt": b"tail"})
    order = ["small.txt", "big0.bin", "big1.bin", "big2.bin", "big3.bin", "tail.txt"]
    meta, members = read_download(media.download(key, order).payload)
    # 5 B, 0.9 MB, 1.8 MB, then 2.7 MB > 2,621,440 B: that file is the last one sent.
    assert meta == {str(i): name for i, name in enumerate(order[:4])}
    assert members == {str(i): ({**big, "small.txt": b"small"})[n] for i, n in enumerate(order[:4])}
    meta, _ = read_download(media.download(key, order[4:]).payload)
    assert meta == {"0": "big3.bin", "1": "tail.txt"}


def test_download_of_file_missing_from_disk_forgets_it(
    media_api: MediaApi, account: Account
) -> None:
    media, key = media_api.media, account.key
    media.upload_ok(key, {"lost.txt": b"lost on disk", "kept.txt": b"still here"})
    digest = sha1(b"lost on disk")
    (media_api.user_folder(account) / digest[:2] / digest).unlink()
    assert media.download(key, ["lost.txt"]).status == 409
    # The next sync must not ask for it again, nor tell other devices to delete it.
    assert [entry[0] for entry in media.changes(key)] == ["kept.txt"]
    assert media.sanity(key, 1) == {"data": "OK", "err": ""}


# --- mediaChanges ------------------------------------------------------------------------


def test_changes_are_sorted_by_usn_and_paged_by_1000(media_api: MediaApi, account: Account) -> None:
    media, key = media_api.media, account.key
    # Random names, so that neither name nor insertion order is usn order.
    names = [f"{uuid.uuid4().hex}.txt" for _ in range(41 * 25)]
    content = {name: f"v1 {name}".encode() for name in names}
    for start in range(0, len(names), 25):
        batch = {n: content[n] for n in names[start : start + 25]}
        assert media.upload_ok(key, batch) == [25, start + 25]
    replaced = names[:20]
    content.update({n: f"v2 {n}".encode() for n in replaced})
    assert media.upload_ok(key, {n: content[n] for n in replaced}) == [20, 1045]

    pages, cursor = [], 0
    while page := media.changes(key, cursor):
        pages.append(page)
        cursor = page[-1][1]
    assert [len(p) for p in pages] == [1000, 25]
    entries = [entry for page in pages for entry in page]
    assert [usn for _, usn, _ in entries] == list(range(21, 1046))
    assert {f: d for f, _, d in entries} == {n: sha1(c) for n, c in content.items()}
    assert [f for f, _, _ in entries[-20:]] == replaced
    assert media.changes(key, 1040) == [
        [n, 1041 + i, sha1(content[n])] for i, n in enumerate(replaced[15:])
    ]


# --- who may see what --------------------------------------------------------------------


def test_another_users_key_neither_sees_nor_changes_media(media_api: MediaApi) -> None:
    owner, other = media_api.new_account(), media_api.new_account()
    before = seeded(media_api, owner)
    media = media_api.media
    assert media.changes(other.key) == []
    assert media.download(other.key, ["keep.txt"]).status == 409
    assert media.begin(other.key).json()["data"]["usn"] == 0
    # The deletion of a file this user never had takes a usn too.
    assert media.upload_ok(other.key, {"keep.txt": None, "zwei.txt": b"other's"}) == [2, 2]
    assert media.sanity(other.key, 1) == {"data": "OK", "err": ""}
    assert media_api.snapshot(owner) == before
    _meta, members = read_download(media.download(owner.key, ["zwei.txt"]).payload)
    assert members == {"0": SEED["zwei.txt"]}


METHODS = {
    "begin": {"v": "anki,26.09.3 (29bb700b),linux"},
    "mediaChanges": {"lastUsn": 0},
    "downloadFiles": {"files": ["keep.txt"]},
    "mediaSanity": {"local": 2},
}


@pytest.mark.parametrize("key", ["", "not-a-host-key", "0" * 40], ids=["empty", "junk", "hex"])
def test_bad_key_is_refused_everywhere(
    media_api: MediaApi, seeded_account: Account, key: str
) -> None:
    account = seeded_account
    before = unchanged_seed(media_api, account)
    for method, payload in METHODS.items():
        assert media_api.media.call(method, payload, key=key).status == 403, method
    body = upload_zip({"keep.txt": None, "x.txt": b"x"})
    assert media_api.media.upload(key, body).status == 403
    assert media_api.snapshot(account) == before


def test_media_request_without_sync_header_is_refused(
    media_api: MediaApi, account: Account
) -> None:
    reply = media_api.media.post(
        "mediaChanges",
        b'{"lastUsn": 0}',
        key=account.key,
        header=header_value(account.key, version=99),
    )
    assert reply.status == 400


def test_removing_user_removes_media_folder_and_index(media_api: MediaApi) -> None:
    gone, stays = media_api.new_account(), media_api.new_account()
    media_api.media.upload_ok(gone.key, {"a.txt": b"shared bytes", "b.txt": b"own"})
    media_api.media.upload_ok(stays.key, {"a.txt": b"shared bytes"})
    stays_before = media_api.snapshot(stays)
    assert media_api.user_folder(gone).is_dir()

    media_api.services.accounts.remove_user(gone.name)

    assert not media_api.user_folder(gone).exists()
    with media_api.services.engine.connect() as conn:
        for table in (media_files, media_state):
            count = conn.execute(
                select(func.count()).select_from(table).where(table.c.user_id == gone.id)
            ).scalar_one()
            assert count == 0, table.name
    assert media_api.snapshot(stays) == stays_before


# --- two devices at once -----------------------------------------------------------------


def test_concurrent_delete_keeps_blob_another_upload_is_registering(
    media_api: MediaApi, account: Account, tmp_path: Any
) -> None:
    media, key, user = media_api.media, account.key, UserId(account.id)
    media.upload_ok(key, {"old.txt": b"the same bytes"})
    # Device 1's upload has stored its blob (the zip is read before the index is locked)...
    path = tmp_path / "upload.zip"
    path.write_bytes(upload_zip({"new.txt": b"the same bytes"}))
    upload = store_upload(path, user, media_api.services.blobs, MAX_FILE, 6 * MIB)
    # ...when device 2's upload deletes the only file that used those bytes...
    assert media.upload_ok(key, {"old.txt": None}) == [1, 2]
    # ...and then device 1's upload registers its file.
    try:
        assert media_api.services.media.upload(user, upload.changes, upload.pending) == (1, 3)
    finally:
        upload.pending.discard()
    reply = media.download(key, ["new.txt"])
    assert reply.status == 200, "the index lists new.txt but its blob is gone"
    assert read_download(reply.payload)[1] == {"0": b"the same bytes"}
    assert not any(".incoming-" in name for name in files_under(media_api.user_folder(account)))


def test_late_blob_deletion_spares_a_file_registered_meanwhile(
    media_api: MediaApi, account: Account
) -> None:
    """Device 2 deleted the last file with some bytes and committed; before it deletes the
    blob, device 1 registers a file with the same bytes. The blob must stay."""
    media, key, user = media_api.media, account.key, UserId(account.id)
    server = media_api.services.media
    media.upload_ok(key, {"old.txt": b"shared bytes"})
    deletion = [UploadedChange("old.txt", None)]
    _, replaced = server._register(user, deletion, NoPendingBlobs())  # committed, not yet
    assert media.upload_ok(key, {"new.txt": b"shared bytes"}) == [1, 3]  # blob deleted
    server._delete_unreferenced(user, replaced)
    reply = media.download(key, ["new.txt"])
    assert reply.status == 200, "the late deletion removed a blob new.txt uses"
    assert read_download(reply.payload)[1] == {"0": b"shared bytes"}


def test_deleting_the_last_file_with_some_bytes_removes_the_blob(
    media_api: MediaApi, account: Account
) -> None:
    media, key = media_api.media, account.key
    media.upload_ok(key, {"a.txt": b"kept twice", "b.txt": b"kept twice", "c.txt": b"only"})
    assert media.upload_ok(key, {"a.txt": None, "c.txt": None}) == [2, 5]
    assert assert_blobs_whole(media_api.user_folder(account)) == {sha1(b"kept twice")}


class NoPendingBlobs:
    """An upload that only deletes: nothing to publish."""

    blobs: tuple[Any, ...] = ()

    def publish(self) -> None:
        pass

    def discard(self) -> None:
        pass
