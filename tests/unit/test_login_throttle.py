"""Failed logins slow down guessing: per user name and per client address, growing
delays, one answer for unknown names and wrong passwords (in-memory adapter)."""

from __future__ import annotations

import pytest

from adapters.memory.store import InMemoryStore
from domain.accounts import BAD_LOGIN, Accounts
from domain.errors import AuthFailed, LoginThrottled
from domain.login_throttle import (
    MAX_DELAY_MS,
    WINDOW_MS,
    LoginFailures,
    ThrottleKind,
    after_failure,
    wait_ms,
)
from tests.support.fakes import CountingTokens, FakeClock, PlainHasher

NOW = 1_800_000_000_000
NAME_FREE = ThrottleKind.NAME.free


def test_delays_start_after_the_free_failures_and_double_up_to_the_cap() -> None:
    assert wait_ms(None, ThrottleKind.NAME, NOW) == 0
    assert wait_ms(LoginFailures(NAME_FREE - 1, NOW), ThrottleKind.NAME, NOW) == 0
    delays = [wait_ms(LoginFailures(NAME_FREE + i, NOW), ThrottleKind.NAME, NOW)
              for i in range(14)]
    assert delays[:5] == [1000, 2000, 4000, 8000, 16000]
    assert delays[-1] == MAX_DELAY_MS and all(d <= MAX_DELAY_MS for d in delays)
    assert wait_ms(LoginFailures(NAME_FREE, NOW), ThrottleKind.NAME, NOW + 400) == 600
    assert wait_ms(LoginFailures(NAME_FREE + 40, NOW), ThrottleKind.NAME,
                   NOW + WINDOW_MS + 1) == 0  # forgotten after an hour without failures
    assert wait_ms(LoginFailures(ThrottleKind.ADDRESS.free - 1, NOW), ThrottleKind.ADDRESS,
                   NOW) == 0


def test_failures_count_up_and_start_again_after_the_window() -> None:
    first = after_failure(None, NOW)
    assert first == LoginFailures(1, NOW)
    assert after_failure(first, NOW + 5) == LoginFailures(2, NOW + 5)
    assert after_failure(first, NOW + WINDOW_MS + 1) == LoginFailures(1, NOW + WINDOW_MS + 1)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def accounts(clock: FakeClock) -> Accounts:
    found = Accounts(uow=InMemoryStore(), hasher=PlainHasher(), clock=clock,
                     tokens=CountingTokens())
    found.add_user("alice", "right")
    found.add_user("bob", "bobs")
    return found


def _fail(accounts: Accounts, name: str, times: int, client: str = "10.0.0.1") -> None:
    for _ in range(times):
        with pytest.raises(AuthFailed) as failed:
            accounts.login(name, "wrong", client)
        assert str(failed.value) == BAD_LOGIN


def test_after_the_free_failures_even_the_right_password_waits(
    accounts: Accounts, clock: FakeClock
) -> None:
    _fail(accounts, "alice", NAME_FREE)
    with pytest.raises(LoginThrottled) as throttled:
        accounts.login("alice", "right", "10.0.0.2")  # another address: the name counts
    assert throttled.value.retry_after_s == 1
    accounts.login("bob", "bobs", "10.0.0.1")  # other users are not held up
    clock.tick(1000)
    accounts.login("alice", "right", "10.0.0.2")
    _fail(accounts, "alice", NAME_FREE)  # a success forgot the name's failures


def test_delays_grow_with_each_failure_past_the_free_ones(
    accounts: Accounts, clock: FakeClock
) -> None:
    _fail(accounts, "alice", NAME_FREE)
    waits = []
    for _ in range(4):
        with pytest.raises(LoginThrottled) as throttled:
            accounts.login("alice", "wrong")
        waits.append(throttled.value.retry_after_s)
        clock.tick(throttled.value.retry_after_s * 1000)
        _fail(accounts, "alice", 1)
    assert waits == [1, 2, 4, 8]


def test_unknown_names_are_throttled_and_answered_like_wrong_passwords(
    accounts: Accounts,
) -> None:
    _fail(accounts, "nobody", NAME_FREE)
    with pytest.raises(LoginThrottled):
        accounts.login("nobody", "x")


def test_one_address_trying_many_names_is_throttled_there_only(
    accounts: Accounts,
) -> None:
    for i in range(ThrottleKind.ADDRESS.free):
        _fail(accounts, f"guess-{i}", 1, client="203.0.113.9")
    with pytest.raises(LoginThrottled):
        accounts.login("alice", "right", "203.0.113.9")
    accounts.login("alice", "right", "198.51.100.7")


def test_basic_credentials_are_throttled_too(accounts: Accounts) -> None:
    for _ in range(NAME_FREE):
        with pytest.raises(AuthFailed):
            accounts.verify("alice", "wrong", "10.0.0.1")
    with pytest.raises(LoginThrottled):
        accounts.verify("alice", "right", "10.0.0.1")


def test_throttling_can_be_turned_off(accounts: Accounts) -> None:
    accounts.throttle = False
    _fail(accounts, "alice", NAME_FREE * 3)
    accounts.login("alice", "right", "10.0.0.1")
