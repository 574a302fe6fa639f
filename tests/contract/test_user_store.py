"""Contract of `UserStore`: users and host keys, on the memory adapter and on SQLite,
PostgreSQL and MariaDB.

The databases are shared by the whole test session, so every test makes its own names.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.exc import IntegrityError

from domain.errors import UserExists
from domain.login_throttle import LoginFailures
from domain.model import HostKeyInfo, KeyKind, KeyUse, User, UserId
from domain.quotas import Quotas
from ports.stores import UnitOfWork, UnitOfWorkFactory
from tests.contract.contents import unique_name

CREATED_MS = 1700000000000
PHC_HASH = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"


def _add(uow: UnitOfWork, name: str, password_hash: str = "hash") -> UserId:
    return uow.users.add(name, password_hash, CREATED_MS)


def test_added_user_is_found_by_name_and_id(uow: UnitOfWork) -> None:
    name = unique_name()
    user_id = _add(uow, name, PHC_HASH)
    assert isinstance(user_id, int)
    assert uow.users.find(name) == (User(user_id, name), PHC_HASH)
    assert uow.users.get(user_id) == User(user_id, name)


def test_users_get_distinct_ids(uow: UnitOfWork) -> None:
    ids = {_add(uow, unique_name()) for _ in range(3)}
    assert len(ids) == 3


def test_unknown_user_is_none(uow: UnitOfWork) -> None:
    assert uow.users.find(unique_name()) is None
    assert uow.users.get(UserId(2**62)) is None


def test_adding_a_taken_name_raises_user_exists(
    uow: UnitOfWork, adapter: str, request: pytest.FixtureRequest
) -> None:
    name = unique_name()
    _add(uow, name)
    with pytest.raises(UserExists):
        _add(uow, name)


def test_committed_duplicate_name_is_rejected(uow_factory: UnitOfWorkFactory) -> None:
    """Whatever the error, the unique key holds across units of work."""
    name = unique_name()
    with uow_factory() as uow:
        first = _add(uow, name)
        uow.commit()
    with uow_factory() as uow, pytest.raises((IntegrityError, UserExists)):
        _add(uow, name)
    with uow_factory(write=False) as uow:
        assert uow.users.find(name) == (User(first, name), "hash")


@pytest.mark.parametrize(
    ("stored", "looked_up"),
    [
        ("Alice", "alice"),
        ("alice", "Alice"),
        ("ALICE", "Alice"),
        ("café", "cafe"),
        ("café", "cafe\u0301"),  # NFC vs NFD
        ("straße", "strasse"),
        ("alice", "alice "),
        ("alice", " alice"),
    ],
)
def test_find_is_exact(uow: UnitOfWork, stored: str, looked_up: str) -> None:
    suffix = uuid.uuid4().hex
    user_id = _add(uow, stored + suffix)
    assert uow.users.find(looked_up + suffix) is None
    assert uow.users.find(stored + suffix) == (User(user_id, stored + suffix), "hash")


def test_names_differing_only_in_case_or_accents_are_different_users(
    uow: UnitOfWork,
) -> None:
    suffix = uuid.uuid4().hex
    names = [f"Alice{suffix}", f"alice{suffix}", f"ALICE{suffix}", f"alicé{suffix}"]
    ids = [_add(uow, name, f"hash-{i}") for i, name in enumerate(names)]
    assert len(set(ids)) == len(names)
    for i, (user_id, name) in enumerate(zip(ids, names, strict=True)):
        assert uow.users.find(name) == (User(user_id, name), f"hash-{i}")


@pytest.mark.parametrize(
    "base",
    ["ünïcödé", "漢字かな", "🙂", "👩‍👩‍👧 family", "Ελληνικά", "ﷺ"],
)
def test_unicode_and_emoji_names_round_trip(uow: UnitOfWork, base: str) -> None:
    name = f"{base}-{uuid.uuid4().hex[:8]}"
    user_id = _add(uow, name)
    assert uow.users.find(name) == (User(user_id, name), "hash")
    assert uow.users.get(user_id) == User(user_id, name)
    assert User(user_id, name) in uow.users.all()


def test_a_255_character_emoji_name_fits(uow: UnitOfWork) -> None:
    name = uuid.uuid4().hex + "🙂" * (255 - 32)
    user_id = _add(uow, name)
    assert uow.users.get(user_id) == User(user_id, name)


def test_all_is_ordered_by_name(uow: UnitOfWork) -> None:
    tag = uuid.uuid4().hex
    names = [f"{tag}-{word}" for word in ("delta", "alpha", "charlie", "bravo", "alpha2")]
    added = {name: _add(uow, name) for name in names}
    listed = [user for user in uow.users.all() if user.name.startswith(tag)]
    assert listed == [User(added[name], name) for name in sorted(names)]


def test_all_lists_every_user(uow: UnitOfWork) -> None:
    everyone = uow.users.all()
    new = unique_name()
    user_id = _add(uow, new)
    assert set(uow.users.all()) == {*everyone, User(user_id, new)}


def test_set_password_changes_only_that_user(uow: UnitOfWork) -> None:
    a, b = unique_name("a"), unique_name("b")
    a_id, b_id = _add(uow, a, "old-a"), _add(uow, b, "old-b")
    uow.users.set_password(a_id, "new-a")
    assert uow.users.find(a) == (User(a_id, a), "new-a")
    assert uow.users.find(b) == (User(b_id, b), "old-b")


def test_set_password_keeps_host_keys(uow: UnitOfWork) -> None:
    """The port leaves revoking to the caller (`Accounts.set_password` does both)."""
    user_id = _add(uow, unique_name())
    uow.users.add_host_key(user_id, "k" * 64, CREATED_MS)
    uow.users.set_password(user_id, "new")
    assert uow.users.has_host_key(user_id, "k" * 64)


def test_remove_deletes_user_and_host_keys_only(uow: UnitOfWork) -> None:
    gone, kept = unique_name("gone"), unique_name("kept")
    gone_id, kept_id = _add(uow, gone), _add(uow, kept)
    for user_id in (gone_id, kept_id):
        uow.users.add_host_key(user_id, "same-digest", CREATED_MS)
    uow.users.remove(gone_id)
    assert uow.users.find(gone) is None
    assert uow.users.get(gone_id) is None
    assert not uow.users.has_host_key(gone_id, "same-digest")
    assert User(gone_id, gone) not in uow.users.all()
    assert uow.users.find(kept) == (User(kept_id, kept), "hash")
    assert uow.users.has_host_key(kept_id, "same-digest")


def test_removed_name_can_be_reused(uow: UnitOfWork) -> None:
    name = unique_name()
    old = _add(uow, name)
    uow.users.remove(old)
    new = _add(uow, name)
    assert uow.users.find(name) == (User(new, name), "hash")


def test_user_ids_are_never_reused(
    uow_factory: UnitOfWorkFactory, adapter: str, request: pytest.FixtureRequest
) -> None:
    """Ids name users in host keys (`<id>.<secret>`) and per-user data, so a removed
    user's id must not pass to the next new user."""
    with uow_factory() as uow:
        old = _add(uow, unique_name())
        uow.commit()
    with uow_factory() as uow:
        uow.users.remove(old)
        uow.commit()
    with uow_factory() as uow:
        new = _add(uow, unique_name())
        uow.commit()
    assert new > old


def test_writes_are_gone_without_commit(uow_factory: UnitOfWorkFactory) -> None:
    name = unique_name()
    with uow_factory() as uow:
        user_id = _add(uow, name)
        uow.users.add_host_key(user_id, "digest", CREATED_MS)
    with uow_factory(write=False) as uow:
        assert uow.users.find(name) is None
        assert not uow.users.has_host_key(user_id, "digest")


def test_committed_writes_are_seen_by_the_next_unit_of_work(
    uow_factory: UnitOfWorkFactory,
) -> None:
    name = unique_name()
    with uow_factory() as uow:
        user_id = _add(uow, name)
        uow.users.add_host_key(user_id, "digest", CREATED_MS)
        uow.commit()
    with uow_factory(write=False) as uow:
        assert uow.users.find(name) == (User(user_id, name), "hash")
        assert uow.users.has_host_key(user_id, "digest")


# Host keys


def test_host_key_is_known_after_add(uow: UnitOfWork) -> None:
    user_id = _add(uow, unique_name())
    digest = uuid.uuid4().hex * 2
    assert not uow.users.has_host_key(user_id, digest)
    uow.users.add_host_key(user_id, digest, CREATED_MS)
    assert uow.users.has_host_key(user_id, digest)
    assert not uow.users.has_host_key(user_id, digest.upper())
    assert not uow.users.has_host_key(user_id, digest[:-1])
    assert not uow.users.has_host_key(user_id, "")


def test_a_user_may_have_several_host_keys(uow: UnitOfWork) -> None:
    user_id = _add(uow, unique_name())
    digests = [uuid.uuid4().hex for _ in range(3)]
    for digest in digests:
        uow.users.add_host_key(user_id, digest, CREATED_MS)
    assert all(uow.users.has_host_key(user_id, d) for d in digests)


def test_host_keys_belong_to_one_user(uow: UnitOfWork) -> None:
    a, b = _add(uow, unique_name()), _add(uow, unique_name())
    digest = uuid.uuid4().hex
    uow.users.add_host_key(a, digest, CREATED_MS)
    assert uow.users.has_host_key(a, digest)
    assert not uow.users.has_host_key(b, digest)


def test_the_same_digest_may_belong_to_two_users(uow: UnitOfWork) -> None:
    a, b = _add(uow, unique_name()), _add(uow, unique_name())
    uow.users.add_host_key(a, "shared", CREATED_MS)
    uow.users.add_host_key(b, "shared", CREATED_MS)
    assert uow.users.has_host_key(a, "shared")
    assert uow.users.has_host_key(b, "shared")


def test_revoke_forgets_every_key_of_that_user_only(uow: UnitOfWork) -> None:
    a, b = _add(uow, unique_name()), _add(uow, unique_name())
    for digest in ("one", "two"):
        uow.users.add_host_key(a, digest, CREATED_MS)
        uow.users.add_host_key(b, digest, CREATED_MS)
    uow.users.revoke_host_keys(a)
    assert not uow.users.has_host_key(a, "one")
    assert not uow.users.has_host_key(a, "two")
    assert uow.users.has_host_key(b, "one")
    assert uow.users.has_host_key(b, "two")


def test_revoking_without_keys_is_harmless(uow: UnitOfWork) -> None:
    user_id = _add(uow, unique_name())
    uow.users.revoke_host_keys(user_id)
    uow.users.add_host_key(user_id, "after", CREATED_MS)
    assert uow.users.has_host_key(user_id, "after")


def test_login_failures_are_kept_per_key_and_forgotten_on_request(
    uow_factory: UnitOfWorkFactory,
) -> None:
    first, second = f"{uuid.uuid4().hex}{uuid.uuid4().hex}", uuid.uuid4().hex * 2
    with uow_factory() as uow:
        assert uow.users.login_failures([first, second]) == {}
        uow.users.set_login_failures(first, LoginFailures(3, 1_800_000_000_123))
        uow.users.set_login_failures(second, LoginFailures(1, 5))
        uow.commit()
    with uow_factory() as uow:
        assert uow.users.login_failures([first, second, "f" * 64]) == {
            first: LoginFailures(3, 1_800_000_000_123), second: LoginFailures(1, 5)}
        uow.users.set_login_failures(first, LoginFailures(4, 6))  # replaced
        uow.users.set_login_failures(second, None)  # forgotten
        uow.commit()
    with uow_factory(write=False) as uow:
        assert uow.users.login_failures([first, second]) == {first: LoginFailures(4, 6)}


def test_quotas_are_kept_per_user(uow: UnitOfWork) -> None:
    first, second = _add(uow, unique_name()), _add(uow, unique_name())
    assert uow.users.quotas(first) == Quotas()
    uow.users.set_quotas(first, Quotas(collection_mb=50, media_mb=0))
    assert uow.users.quotas(first) == Quotas(50, 0)
    assert uow.users.quotas(second) == Quotas()
    uow.users.set_quotas(first, Quotas(media_mb=7))
    assert uow.users.quotas(first) == Quotas(None, 7)


def test_usage_counts_what_each_user_stores(uow: UnitOfWork) -> None:
    from domain.media import MediaEntry
    from tests.contract.contents import small_contents

    name, other = unique_name("usage-a"), unique_name("usage-b")
    user, second = _add(uow, name), _add(uow, other)
    contents = small_contents("usage", 5)
    uow.collections.replace(user, contents)
    uow.media.save(user, [MediaEntry("a.jpg", "a" * 40, 1000, 1),
                          MediaEntry("gone.jpg", "", 0, 2)])
    uow.users.add_host_key(user, "k" * 64, CREATED_MS)
    uow.users.add_host_key(user, "j" * 64, CREATED_MS)
    found = {u.name: u for u in uow.users.usage()}
    mine = found[name]
    assert (mine.notes, mine.cards, mine.reviews) == (5, 5, 5)
    # An estimate: characters or bytes as the database counts them (MySQL: UTF-8 bytes).
    text = sum(len(n.flds) + len(n.tags) for n in contents.note_list)
    assert text // 2 <= mine.note_text_bytes <= 4 * text
    assert (mine.media_bytes, mine.devices, mine.last_sync_ms) == (
        1000, 2, contents.meta_row.ls)
    assert (found[other].notes, found[other].media_bytes, found[other].devices) == (0, 0, 0)
    assert second is not None
    # One user's usage alone, as the admin page of that user reads it.
    assert uow.users.usage(user) == [mine]
    assert uow.users.usage(second) == [found[other]]
    assert uow.users.usage(UserId(2**62)) == []


def test_imported_host_keys_lead_to_their_user_and_go_with_revocation(uow: UnitOfWork) -> None:
    a, b = _add(uow, unique_name()), _add(uow, unique_name())
    digest_a, digest_b = f"imported-{uuid.uuid4().hex}", f"imported-{uuid.uuid4().hex}"
    uow.users.add_imported_host_key(a, digest_a, CREATED_MS)
    uow.users.add_imported_host_key(b, digest_b, CREATED_MS)
    assert uow.users.imported_key_user(digest_a) == a
    assert uow.users.has_host_key(a, digest_a) and not uow.users.has_host_key(b, digest_a)
    assert uow.users.imported_key_user("unknown digest") is None
    uow.users.revoke_host_key(a, digest_a)
    assert uow.users.imported_key_user(digest_a) is None
    assert not uow.users.has_host_key(a, digest_a)
    uow.users.revoke_host_keys(b)
    assert uow.users.imported_key_user(digest_b) is None
    uow.users.add_imported_host_key(a, digest_b, CREATED_MS)
    uow.users.remove(a)
    assert uow.users.imported_key_user(digest_b) is None


def test_password_hash_is_what_was_stored(uow: UnitOfWork) -> None:
    user_id = _add(uow, unique_name(), "$pbkdf2-sha256$stored")
    assert uow.users.password_hash(user_id) == "$pbkdf2-sha256$stored"
    assert uow.users.password_hash(UserId(10**12)) is None


def test_a_host_key_keeps_its_kind_name_client_and_last_use(uow: UnitOfWork) -> None:
    user_id = _add(uow, unique_name())
    uow.users.add_host_key(user_id, "device", CREATED_MS, KeyKind.SYNC, client="26.09.3,x,lin")
    uow.users.add_host_key(user_id, "token", CREATED_MS + 1, KeyKind.API, label="yomitan ü")
    uow.users.add_host_key(user_id, "browser", CREATED_MS + 2, KeyKind.WEB, client="x" * 300)
    assert uow.users.key_use(user_id, "device") == KeyUse(0, "26.09.3,x,lin")
    assert uow.users.key_use(user_id, "nothing") is None
    uow.users.note_key_use(user_id, "device", CREATED_MS + 10)
    assert uow.users.key_use(user_id, "device") == KeyUse(CREATED_MS + 10, "26.09.3,x,lin")
    uow.users.note_key_use(user_id, "token", CREATED_MS + 20, "curl")
    assert uow.users.key_use(user_id, "token") == KeyUse(CREATED_MS + 20, "curl", KeyKind.API)
    assert uow.users.key_use(user_id, "browser") == KeyUse(0, "x" * 255, KeyKind.WEB)
    assert uow.users.host_keys(user_id) == [
        HostKeyInfo("device", KeyKind.SYNC, "", "26.09.3,x,lin", CREATED_MS, CREATED_MS + 10),
        HostKeyInfo("token", KeyKind.API, "yomitan ü", "curl", CREATED_MS + 1, CREATED_MS + 20),
        HostKeyInfo("browser", KeyKind.WEB, "", "x" * 255, CREATED_MS + 2, 0),
    ]
    other = _add(uow, unique_name())
    uow.users.note_key_use(other, "device", CREATED_MS + 99)  # another user's: no effect
    assert uow.users.key_use(user_id, "device") == KeyUse(CREATED_MS + 10, "26.09.3,x,lin")
    assert uow.users.host_keys(other) == []


def test_only_devices_count_as_devices_in_usage(uow: UnitOfWork) -> None:
    name = unique_name()
    user_id = _add(uow, name)
    uow.users.add_host_key(user_id, "a", CREATED_MS, KeyKind.SYNC)
    uow.users.add_host_key(user_id, "b", CREATED_MS, KeyKind.WEB)
    uow.users.add_host_key(user_id, "c", CREATED_MS, KeyKind.API)
    usage = next(u for u in uow.users.usage() if u.name == name)
    assert usage.devices == 1


def test_admin_flag_is_kept_and_cleared(uow: UnitOfWork) -> None:
    name = unique_name()
    user_id = _add(uow, name)
    assert uow.users.get(user_id) == User(user_id, name, admin=False)
    uow.users.set_admin(user_id, True)
    assert uow.users.get(user_id) == User(user_id, name, admin=True)
    assert uow.users.find(name) == (User(user_id, name, admin=True), "hash")
    assert User(user_id, name, admin=True) in uow.users.all()
    uow.users.set_admin(user_id, False)
    assert uow.users.get(user_id) == User(user_id, name)


def test_usage_counts_a_devices_last_use_as_a_sync(uow: UnitOfWork) -> None:
    name = unique_name()
    user_id = _add(uow, name)
    uow.users.add_host_key(user_id, "device", CREATED_MS, KeyKind.SYNC)
    uow.users.add_host_key(user_id, "browser", CREATED_MS, KeyKind.WEB)
    uow.users.note_key_use(user_id, "browser", CREATED_MS + 500)  # not a sync
    assert next(u for u in uow.users.usage() if u.name == name).last_sync_ms == 0
    uow.users.note_key_use(user_id, "device", CREATED_MS + 100)
    assert next(u for u in uow.users.usage() if u.name == name).last_sync_ms == CREATED_MS + 100
