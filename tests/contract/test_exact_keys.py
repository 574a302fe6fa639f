"""String keys are exact on every adapter: config keys, tags, staging keys, media names.

Exact means byte for byte: case, accents, Unicode normal form and trailing spaces all
count (MariaDB's utf8mb4_bin ignores trailing spaces), and any length is kept (MariaDB
indexes at most 3072 bytes). Lists of keys come back in code point order everywhere.
"""

from __future__ import annotations

import pytest

from adapters.sql.verbatim import KEY_PREFIX_BYTES, decode_key, encode_key
from domain.media import MAX_NAME_BYTES, MediaEntry
from domain.model import ConfigEntry, Tag, UserId
from domain.new_collection import new_collection
from domain.sync.staging import StagedItem, StageKind
from ports.stores import UnitOfWork
from tests.contract.contents import ListContents, small_contents, unique_name

# Equal under some collation: PAD SPACE, case or accent folding, normalisation, a
# prefix index. Sorted in code point order: "k" < "k\t" < "k " < "k  " < "kéy" < ...
ALIKE = ["k", "k ", "k  ", "k\t", "K", "kéy", "ke\u0301y", "kÉy", "k\x00", "🙂", "ﬀ", "ff"]
LONG = [
    "t" * 701,
    "t" * (KEY_PREFIX_BYTES - 1),
    "t" * KEY_PREFIX_BYTES,
    "t" * (KEY_PREFIX_BYTES + 1),
    "t" * KEY_PREFIX_BYTES + "\xe9",  # the prefix limit falls inside a character
    "é" * 3001,
    "🙂" * 3001,
    "t" * 5000 + "a",
    "t" * 5000 + "b",
    "t" * 5000 + "a ",
    "t" * 5000 + "A",
]
KEYS = ALIKE + LONG


def _user(uow: UnitOfWork) -> UserId:
    return uow.users.add(unique_name(), "hash", 0)


def _entry(key: str, i: int) -> ConfigEntry:
    return ConfigEntry(key=key, usn=i, mtime=i, json=str(i))


def test_config_keys_are_exact_and_of_any_length(uow: UnitOfWork) -> None:
    user = _user(uow)
    uow.collections.create(user, new_collection(0))
    for i, key in enumerate(KEYS):
        uow.collections.put_config(user, _entry(key, i))
    assert [uow.collections.config_json(user, key) for key in KEYS] == [
        str(i) for i in range(len(KEYS))
    ]
    for missing in ("k   ", "k\t ", "KÉY", "t" * 5000, "t" * 5000 + "c", "🙂" * 3000):
        assert uow.collections.config_json(user, missing) is None
    listed = uow.collections.config(user)
    assert [e.key for e in listed if e.key in KEYS] == sorted(KEYS)


def test_putting_a_config_key_replaces_only_that_key(uow: UnitOfWork) -> None:
    user = _user(uow)
    uow.collections.create(user, new_collection(0))
    uow.collections.replace_config(user, [_entry(key, i) for i, key in enumerate(KEYS)])
    for key in ("k ", "t" * 5000 + "a", "🙂" * 3001):
        uow.collections.put_config(user, ConfigEntry(key=key, usn=-1, mtime=-1, json='"new"'))
    values = {e.key: e.json for e in uow.collections.config(user)}
    assert {k: v for k, v in values.items() if k in KEYS} == {
        key: '"new"' if key in ("k ", "t" * 5000 + "a", "🙂" * 3001) else str(i)
        for i, key in enumerate(KEYS)
    }


def test_tags_are_exact_of_any_length_and_listed_in_code_point_order(uow: UnitOfWork) -> None:
    user = _user(uow)
    uow.collections.create(user, new_collection(0))
    uow.collections.add_tags(user, [Tag(name, usn=5) for name in KEYS])
    # Adding them again, and alike ones, adds only the new names.
    uow.collections.add_tags(user, [Tag(name, usn=6) for name in [*KEYS, "k   ", "t" * 5001]])
    since = uow.collections.tags_since(user, 0)
    expected = sorted([*KEYS, "k   ", "t" * 5001])
    assert [t.name for t in since] == expected
    assert {t.name: t.usn for t in since} == {
        **{name: 5 for name in KEYS}, "k   ": 6, "t" * 5001: 6
    }
    assert [t.name for t in uow.collections.tags_since(user, 6)] == sorted(["k   ", "t" * 5001])


def test_the_api_lists_tags_in_code_point_order(uow: UnitOfWork) -> None:
    # Keys that differ within their first 1024 bytes: MySQL sorts only that much of a
    # value, so listings that sort in SQL are exact up to there. No NUL: PostgreSQL
    # stores it escaped as U+E000 U+E002 (adapters/sql/verbatim.py), which sorts later.
    user = _user(uow)
    uow.collections.create(user, new_collection(0))
    names = [*(n for n in ALIKE if "\x00" not in n), "t" * 701, "é" * 500, "🙂" * 250,
             "a", "B", "b", "_", "~", "\x7f", "ä"]
    uow.collections.add_tags(user, [Tag(name, usn=1) for name in names])
    assert [t.name for t in uow.queries.all_tags(user)] == sorted(names)


def test_a_full_upload_keeps_alike_and_long_keys(uow: UnitOfWork) -> None:
    user = _user(uow)
    meta = small_contents("exact-upload").meta()
    config = tuple(_entry(key, i) for i, key in enumerate(KEYS))
    tags = tuple(Tag(name, usn=i, collapsed=i % 2 == 0) for i, name in enumerate(KEYS))
    uow.collections.replace(user, ListContents(meta_row=meta, config_list=config, tag_list=tags))
    exported = uow.collections.export(user)
    assert sorted(exported.config(), key=lambda e: e.key) == sorted(config, key=lambda e: e.key)
    assert sorted(exported.tags(), key=lambda t: t.name) == sorted(tags, key=lambda t: t.name)
    assert [uow.collections.config_json(user, key) for key in KEYS] == [e.json for e in config]
    assert [t.name for t in uow.collections.tags_since(user, 0)] == sorted(KEYS)


def test_staged_keys_are_exact_and_of_any_length(uow: UnitOfWork) -> None:
    user = _user(uow)
    uow.staging.add(user, [StagedItem(StageKind.TAG, key, str(i)) for i, key in enumerate(KEYS)])
    # Staging a key again replaces that item only.
    uow.staging.add(user, [StagedItem(StageKind.TAG, "k ", "again"),
                           StagedItem(StageKind.TAG, "t" * 5000 + "b", "again")])
    assert uow.staging.keys(user, StageKind.TAG) == set(KEYS)
    assert {i.key: i.payload for i in uow.staging.read(user, StageKind.TAG)} == {
        key: "again" if key in ("k ", "t" * 5000 + "b") else str(i) for i, key in enumerate(KEYS)
    }
    assert uow.staging.keys(user, StageKind.CONFIG) == set()


# Media names: at most MAX_NAME_BYTES of UTF-8 (domain/media.py), NFC, no control chars.
MEDIA_NAMES = [
    "pad.txt", "pad.txt ", "pad.txt  ", "PAD.txt", "pád.txt", "Pád.txt", "pÁd.txt",
    "a" * MAX_NAME_BYTES,
    "a" * (MAX_NAME_BYTES - 1) + "b",
    "é" * (MAX_NAME_BYTES // 2),
    "🙂" * (MAX_NAME_BYTES // 4) + "abc",
    "漢" * (MAX_NAME_BYTES // 3),
]


def test_media_names_are_exact_up_to_the_longest_name(uow: UnitOfWork) -> None:
    assert all(len(n.encode()) <= MAX_NAME_BYTES for n in MEDIA_NAMES)
    user = _user(uow)
    # One at a time, as uploads come: saving one name must not replace an alike one.
    for i, name in enumerate(MEDIA_NAMES):
        uow.media.save(user, [MediaEntry(name, f"{i:040x}", i, i + 1)])
    expected = {n: MediaEntry(n, f"{i:040x}", i, i + 1) for i, n in enumerate(MEDIA_NAMES)}
    assert uow.media.entries(user, MEDIA_NAMES) == expected
    assert {e.fname: e for e in uow.media.changes_since(user, 0, 100)} == expected
    assert uow.media.entries(user, ["pad.txt   ", "PÁD.txt", "a" * 254]) == {}
    uow.media.forget(user, "pad.txt ")
    assert sorted(uow.media.entries(user, MEDIA_NAMES)) == sorted(
        n for n in MEDIA_NAMES if n != "pad.txt "
    )


@pytest.mark.parametrize("key", ["", "k ", "\x00", "t" * KEY_PREFIX_BYTES, *LONG])
def test_mysql_key_encoding_round_trips_and_keeps_its_prefix_unique(key: str) -> None:
    stored = encode_key(key)
    assert decode_key(stored) == key
    assert stored[:KEY_PREFIX_BYTES] != encode_key(key + "x")[:KEY_PREFIX_BYTES]
    if len(key.encode()) <= KEY_PREFIX_BYTES:
        assert stored == key.encode()
