"""Contract of `SessionStore`: what a step reads under the lock, on every adapter.

A sync step that waits for the lock must then see the session exactly as the previous
lock holder committed it; acting on an older session would let two devices'
conversations interleave (found by two real devices syncing at once). Each way of
taking the lock is checked: for API writes, for a sync step, and for the sanity check
(which counts new rows in the same query).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable

import pytest

from domain.model import Credentials, UserId
from domain.new_collection import new_collection
from domain.sync.session import Phase, SyncSession
from domain.sync.staging import StageKind
from ports.stores import UnitOfWork, UnitOfWorkFactory
from tests.contract.contents import unique_name

NOW_MS = 1700000000000
HOLD_S = 0.5


def _session(skey: str, phase: Phase = Phase.STARTED) -> SyncSession:
    return SyncSession(skey=skey, phase=phase, server_usn=1, client_usn=0,
                       client_is_newer=False, touched_ms=NOW_MS)


def _user_with_session(uow_factory: UnitOfWorkFactory, session: SyncSession | None) -> UserId:
    with uow_factory() as uow:
        user = uow.users.add(unique_name(), "hash", NOW_MS)
        uow.collections.create(user, new_collection(NOW_MS))
        if session is not None:
            uow.sessions.save(user, session)
        uow.commit()
    return user


Lock = Callable[[UnitOfWork, UserId], SyncSession | None]
WAYS: dict[str, Lock] = {
    "with collection": lambda uow, user: uow.sessions.lock_with_collection(user)[1],
    "sync step": lambda uow, user: uow.sessions.lock(Credentials(user)).session,
    "sanity check": lambda uow, user: uow.sessions.lock(
        Credentials(user), new_rows=True).session,
}


@pytest.fixture(params=list(WAYS))
def way(request: pytest.FixtureRequest) -> Lock:
    return WAYS[request.param]


def _seen_by_waiter(uow_factory: UnitOfWorkFactory, user: UserId,
                    change: SyncSession | None, way: Lock | None = None) -> SyncSession | None:
    """Hold the lock, change the session (None: delete it), commit; return what a unit of
    work that asked for the lock meanwhile sees once it gets it."""
    locked, seen = threading.Event(), []

    def holder() -> None:
        with uow_factory() as uow:
            uow.sessions.lock_with_collection(user)
            locked.set()
            time.sleep(HOLD_S)  # the waiter's statement starts before this commit
            if change is None:
                uow.sessions.delete(user)
            else:
                uow.sessions.save(user, change)
            uow.commit()

    def waiter() -> None:
        locked.wait()
        with uow_factory() as uow:
            seen.append((way or WAYS["with collection"])(uow, user))

    threads = [threading.Thread(target=holder), threading.Thread(target=waiter)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(seen) == 1, "the waiter never got the lock"
    return seen[0]


def test_waiter_sees_the_session_that_replaced_another(
    uow_factory: UnitOfWorkFactory, way: Lock
) -> None:
    user = _user_with_session(uow_factory, _session("first"))
    assert _seen_by_waiter(uow_factory, user, _session("second"), way) == _session("second")


def test_waiter_sees_a_session_started_while_it_waited(
    uow_factory: UnitOfWorkFactory, way: Lock
) -> None:
    user = _user_with_session(uow_factory, None)
    assert _seen_by_waiter(uow_factory, user, _session("new"), way) == _session("new")


def test_waiter_sees_a_session_ended_while_it_waited(
    uow_factory: UnitOfWorkFactory, way: Lock
) -> None:
    user = _user_with_session(uow_factory, _session("ending", Phase.SANITY_OK))
    assert _seen_by_waiter(uow_factory, user, None, way) is None


def test_waiter_sees_the_phase_the_holder_saved(uow_factory: UnitOfWorkFactory) -> None:
    user = _user_with_session(uow_factory, _session("same"))
    moved = _session("same", Phase.CHANGES_APPLIED)
    assert _seen_by_waiter(uow_factory, user, moved) == moved


def test_a_session_keeps_its_staged_kinds(uow_factory: UnitOfWorkFactory) -> None:
    user = _user_with_session(uow_factory, None)
    for staged in (frozenset(StageKind), frozenset({StageKind.NOTE, StageKind.GRAVE_CARD}),
                   frozenset()):
        session = dataclasses.replace(_session("kinds"), staged=staged)
        with uow_factory() as uow:
            uow.sessions.save(user, session)
            uow.commit()
        with uow_factory() as uow:
            assert uow.sessions.get(user) == session
            assert uow.sessions.lock_with_collection(user)[1] == session
