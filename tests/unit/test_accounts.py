"""Login, host keys and user administration, on the in-memory adapter."""

from __future__ import annotations

import pytest

from adapters.memory.store import InMemoryStore
from domain.accounts import Accounts, host_key_user
from domain.errors import AuthFailed, LoginThrottled, NoSuchUser, UserExists
from domain.model import Credentials, KeyKind, User, UserId
from tests.support.fakes import CountingTokens, FakeClock, PlainHasher


@pytest.fixture
def hasher() -> PlainHasher:
    return PlainHasher()


@pytest.fixture
def accounts(hasher: PlainHasher) -> Accounts:
    return Accounts(uow=InMemoryStore(), hasher=hasher, clock=FakeClock(), tokens=CountingTokens())


def test_login_returns_a_key_that_authenticates_the_user(accounts: Accounts) -> None:
    user_id = accounts.add_user("alice", "pw")
    key = accounts.login("alice", "pw")
    assert accounts.authenticate(key) == user_id


def test_each_login_gets_its_own_key_and_all_stay_valid(accounts: Accounts) -> None:
    accounts.add_user("alice", "pw")
    first, second = accounts.login("alice", "pw"), accounts.login("alice", "pw")
    assert first != second
    accounts.authenticate(first)
    accounts.authenticate(second)


def test_login_trims_the_name_but_not_the_password(accounts: Accounts) -> None:
    accounts.add_user("alice", " pw ")
    accounts.login("  alice\t", " pw ")
    with pytest.raises(AuthFailed):
        accounts.login("alice", "pw")


def test_unknown_user_costs_one_password_verification_like_a_wrong_password(
    accounts: Accounts, hasher: PlainHasher
) -> None:
    accounts.add_user("alice", "pw")
    hasher.verifications = 0
    with pytest.raises(AuthFailed):
        accounts.login("bob", "pw")
    with pytest.raises(AuthFailed):
        accounts.login("alice", "wrong")
    assert hasher.verifications == 2


def test_names_are_case_sensitive(accounts: Accounts) -> None:
    accounts.add_user("Alice", "pw")
    with pytest.raises(AuthFailed):
        accounts.login("alice", "pw")
    accounts.add_user("alice", "other")


def test_adding_an_existing_name_fails(accounts: Accounts) -> None:
    accounts.add_user("alice", "pw")
    with pytest.raises(UserExists):
        accounts.add_user(" alice ", "pw2")


@pytest.mark.parametrize("name", ["", "   ", "x" * 256, "a\x00b"])
def test_invalid_names_are_rejected(accounts: Accounts, name: str) -> None:
    with pytest.raises(ValueError):
        accounts.add_user(name, "pw")


def test_password_change_revokes_every_key(accounts: Accounts) -> None:
    accounts.add_user("alice", "pw")
    key = accounts.login("alice", "pw")
    accounts.set_password("alice", "new")
    with pytest.raises(AuthFailed):
        accounts.authenticate(key)
    with pytest.raises(AuthFailed):
        accounts.login("alice", "pw")
    accounts.authenticate(accounts.login("alice", "new"))


def test_removed_user_keys_stop_working_and_name_can_be_reused(accounts: Accounts) -> None:
    accounts.add_user("alice", "pw")
    key = accounts.login("alice", "pw")
    accounts.remove_user("alice")
    with pytest.raises(AuthFailed):
        accounts.authenticate(key)
    with pytest.raises(NoSuchUser):
        accounts.remove_user("alice")
    new_id = accounts.add_user("alice", "pw")
    assert host_key_user(key) != new_id


def test_key_of_one_user_does_not_work_with_another_users_id(accounts: Accounts) -> None:
    alice = accounts.add_user("alice", "pw")
    bob = accounts.add_user("bob", "pw")
    key = accounts.login("alice", "pw")
    forged = f"{bob}.{key.split('.', 1)[1]}"
    assert host_key_user(key) == alice
    with pytest.raises(AuthFailed):
        accounts.authenticate(forged)


@pytest.mark.parametrize("key", ["", "abc", ".", "1.", ".abc", "x.abc", "-1.abc", "1" * 30 + ".a"])
def test_malformed_keys_fail_authentication(accounts: Accounts, key: str) -> None:
    with pytest.raises(AuthFailed):
        accounts.authenticate(key)


def test_users_are_listed_by_name(accounts: Accounts) -> None:
    for name in ("carol", "alice", "bob"):
        accounts.add_user(name, "pw")
    assert [u.name for u in accounts.users()] == ["alice", "bob", "carol"]


def test_removing_a_user_removes_the_files_kept_for_them(hasher: PlainHasher) -> None:
    removed: list[int] = []

    class Files:
        def remove_user(self, user: UserId) -> None:
            removed.append(user)

    accounts = Accounts(uow=InMemoryStore(), hasher=hasher, clock=FakeClock(),
                        tokens=CountingTokens(), files=Files())
    alice = accounts.add_user("alice", "pw")
    accounts.add_user("bob", "pw")
    accounts.remove_user("alice")
    assert removed == [alice]


def test_credentials_name_the_user_and_carry_the_keys_digest(
    accounts: Accounts, hasher: PlainHasher
) -> None:
    alice = accounts.add_user("alice", "pw")
    key = accounts.login("alice", "pw")
    assert accounts.credentials(key) == Credentials(alice, hasher.hash_key(key))
    with pytest.raises(AuthFailed):
        accounts.credentials("not-a-key")


@pytest.mark.parametrize("key", ["¹.secret", "١٢.secret", "1", ".secret", "x.secret",
                                 "1234567890123456789.secret"])
def test_a_malformed_host_key_is_refused_not_an_error(key: str) -> None:
    with pytest.raises(AuthFailed):
        host_key_user(key)


def test_an_imported_password_hash_is_replaced_at_the_first_login(
    accounts: Accounts, hasher: PlainHasher
) -> None:
    with accounts.uow() as uow:
        user_id = uow.users.add("imported", "foreign$old pass", 0)
        uow.commit()
    with pytest.raises(AuthFailed):
        accounts.login("imported", "wrong")
    with accounts.uow() as uow:
        assert uow.users.password_hash(user_id) == "foreign$old pass"
    accounts.login("imported", "old pass")
    with accounts.uow() as uow:
        assert uow.users.password_hash(user_id) == hasher.hash("old pass")
    assert accounts.authenticate(accounts.login("imported", "old pass")) == user_id


def test_a_host_key_from_another_server_works_once_imported(
    accounts: Accounts, hasher: PlainHasher
) -> None:
    user_id = accounts.add_user("moved", "pw")
    old_key = "461e238c9a0b63e952cc9462c749e5c3719681a1"  # as the official server makes
    with pytest.raises(AuthFailed):
        accounts.authenticate(old_key)
    with accounts.uow() as uow:
        uow.users.add_imported_host_key(user_id, hasher.hash_key(old_key), 0)
        uow.commit()
    assert accounts.authenticate(old_key) == user_id
    assert accounts.credentials(old_key) == Credentials(user_id, hasher.hash_key(old_key))
    accounts.set_password("moved", "new")
    with pytest.raises(AuthFailed):
        accounts.authenticate(old_key)


def test_keys_are_listed_by_kind_with_their_name_and_client(accounts: Accounts) -> None:
    user = accounts.add_user("ann", "pw")
    device = accounts.login("ann", "pw", software="26.09.3,abc,linux")
    browser = accounts.login("ann", "pw", kind=KeyKind.WEB, software="Mozilla/5.0 (X11; Linux)")
    token = accounts.new_token(user, "  my   script ")
    keys = {k.digest: k for k in accounts.keys(user)}
    assert keys[accounts.key_digest(device)].kind == KeyKind.SYNC
    assert keys[accounts.key_digest(device)].client == "26.09.3,abc,linux"
    assert keys[accounts.key_digest(device)].last_used_ms == 0  # not synced yet
    assert keys[accounts.key_digest(browser)].last_used_ms > 0  # in use from its login
    assert keys[accounts.key_digest(token)].label == "my script"
    assert keys[accounts.key_digest(token)].last_used_ms == 0


@pytest.mark.parametrize("label", ["", "   ", "x" * 101, "bidi\u202eswap", "bell\x07"])
def test_a_token_needs_a_printable_name(accounts: Accounts, label: str) -> None:
    user = accounts.add_user("ann", "pw")
    with pytest.raises(ValueError):
        accounts.new_token(user, label)
    assert accounts.keys(user) == []


def test_a_key_check_records_its_use_at_most_once_a_minute(accounts: Accounts) -> None:
    user = accounts.add_user("ann", "pw")
    clock = accounts.clock
    assert isinstance(clock, FakeClock)
    token = accounts.new_token(user, "t")
    accounts.authenticate(token, "curl/8")
    first = clock.now_ms()
    clock.tick(30_000)
    accounts.authenticate(token, "curl/8")
    assert accounts.keys(user)[0].last_used_ms == first
    accounts.authenticate(token, "curl/9")  # another client: written at once
    assert accounts.keys(user)[0].client == "curl/9"
    clock.tick(60_000)
    accounts.authenticate(token)
    assert accounts.keys(user)[0].last_used_ms == clock.now_ms()


def test_revoking_by_digest_ends_one_key_of_its_own_user_only(accounts: Accounts) -> None:
    ann, bob = accounts.add_user("ann", "pw"), accounts.add_user("bob", "pw")
    one, two = accounts.login("ann", "pw"), accounts.login("ann", "pw")
    bobs = accounts.login("bob", "pw")
    assert not accounts.revoke_digest(ann, accounts.key_digest(bobs))
    assert accounts.authenticate(bobs) == bob
    assert accounts.revoke_digest(ann, accounts.key_digest(one))
    assert not accounts.revoke_digest(ann, accounts.key_digest(one))
    with pytest.raises(AuthFailed):
        accounts.authenticate(one)
    assert accounts.authenticate(two) == ann


def test_changing_ones_password_logs_out_every_other_key(accounts: Accounts) -> None:
    ann = accounts.add_user("ann", "old")
    device, token = accounts.login("ann", "old"), accounts.new_token(ann, "t")
    with pytest.raises(AuthFailed):
        accounts.change_password(ann, "wrong", "new")
    assert accounts.authenticate(device) == ann and accounts.check_password("ann", "old")
    session = accounts.change_password(ann, "old", "new", software="Firefox")
    for old in (device, token):
        with pytest.raises(AuthFailed):
            accounts.authenticate(old)
    assert accounts.authenticate(session) == ann
    assert [k.kind for k in accounts.keys(ann)] == [KeyKind.WEB]
    assert accounts.check_password("ann", "new") and not accounts.check_password("ann", "old")


def test_wrong_current_passwords_are_throttled_like_logins(hasher: PlainHasher) -> None:
    accounts = Accounts(uow=InMemoryStore(), hasher=hasher, clock=FakeClock(),
                        tokens=CountingTokens(), throttle=True)
    ann = accounts.add_user("ann", "old")
    for _ in range(5):
        with pytest.raises(AuthFailed):
            accounts.change_password(ann, "wrong", "new", "10.0.0.1")
    with pytest.raises(LoginThrottled):
        accounts.change_password(ann, "old", "new", "10.0.0.1")
    assert accounts.check_password("ann", "old")


def test_admins_are_made_with_the_user_or_later(accounts: Accounts) -> None:
    ann = accounts.add_user("ann", "pw", admin=True)
    bob = accounts.add_user("bob", "pw")
    assert accounts.user(ann) == User(ann, "ann", admin=True)
    accounts.set_admin("bob", True)
    accounts.set_admin("ann", False)
    assert [u.admin for u in accounts.users()] == [False, True]
    assert accounts.user(bob) == User(bob, "bob", admin=True)
    with pytest.raises(NoSuchUser):
        accounts.set_admin("carl", True)
