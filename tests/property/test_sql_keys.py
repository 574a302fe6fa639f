"""Config keys and tags sync verbatim on every SQL backend.

Anki treats both as arbitrary strings (add-ons write their own config keys), and
the server must store what it does not interpret exactly as received. These are
the failing cases the verbatim work found, reduced to one sync each.
"""

from __future__ import annotations

import itertools
import uuid

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, IntegrityError

from adapters.sql.uow import SqlUnitOfWorkFactory
from domain.model import UserId
from domain.sync.server import SyncServer
from tests.support.fakes import FakeClock
from tests.support.replica import ClientReplica, ServerTime, SyncOutcome, server_content

PAD_SPACE = (
    "BUG: MariaDB/MySQL compare utf8mb4_bin strings with PAD SPACE, so config keys 'k' and "
    "'k ' collide on the primary key of `config` (adapters/sql/tables.py); finish fails "
    "with IntegrityError (HTTP 500) and the user can no longer sync"
)
VARCHAR_700 = (
    "BUG: on MySQL/MariaDB, tags, config keys and staging keys are VARCHAR(700) "
    "(adapters/sql/verbatim.py VerbatimText(700) for tags.tag, config.key, "
    "sync_staging.okey); a longer one makes every sync fail with DataError (HTTP 500), "
    "while SQLite, PostgreSQL and memory accept it"
)
MARKS = {"sqlite": [], "postgres": [pytest.mark.postgres], "mysql": [pytest.mark.mysql]}


def backends(reason: str, error: type[Exception], *failing: str) -> list[object]:
    """Every backend, with a strict xfail on the ones where the bug shows."""
    return [
        pytest.param(
            name,
            id=name,
            marks=[
                *MARKS[name],
                *(
                    [pytest.mark.xfail(strict=True, raises=error, reason=reason)]
                    if name in failing
                    else []
                ),
            ],
        )
        for name in MARKS
    ]


class TwoDevices:
    def __init__(self, engine: Engine) -> None:
        clock = FakeClock()
        self.uow = SqlUnitOfWorkFactory(engine)
        self.user = UserId(uuid.uuid4().int >> 66)
        self.server = SyncServer(uow=self.uow, clock=ServerTime(clock))
        ids = itertools.count(clock.now_ms() * 1000).__next__
        self.a, self.b = ClientReplica("a", clock, ids), ClientReplica("b", clock, ids)
        self.a.full_upload(self.server, self.user)
        self.b.full_download(self.server, self.user)
        clock.tick(1000)

    def sync_a_then_b(self) -> None:
        assert self.a.sync(self.server, self.user) is SyncOutcome.FINISHED
        assert self.b.sync(self.server, self.user) is SyncOutcome.FINISHED
        server = server_content(self.uow, self.user)
        assert self.a.content().differences(server) == self.b.content().differences(server) == []


@pytest.mark.parametrize("backend", backends(PAD_SPACE, IntegrityError, "mysql"), indirect=True)
def test_config_keys_differing_only_in_trailing_spaces_both_sync(engine: Engine) -> None:
    devices = TwoDevices(engine)
    devices.a.set_config("addon key", 1)
    devices.a.set_config("addon key ", 2)
    devices.sync_a_then_b()
    assert (devices.b.state.config["addon key"], devices.b.state.config["addon key "]) == (1, 2)


@pytest.mark.parametrize("backend", backends(VARCHAR_700, DataError, "mysql"), indirect=True)
def test_a_tag_longer_than_700_characters_syncs(engine: Engine) -> None:
    devices = TwoDevices(engine)
    devices.a.add_note(["front", "back"], tags=["t" * 701])
    devices.sync_a_then_b()
    assert "t" * 701 in devices.b.state.tags


@pytest.mark.parametrize("backend", backends(VARCHAR_700, DataError, "mysql"), indirect=True)
def test_a_config_key_longer_than_700_characters_syncs(engine: Engine) -> None:
    devices = TwoDevices(engine)
    devices.a.set_config("k" * 701, True)
    devices.sync_a_then_b()
    assert devices.b.state.config["k" * 701] is True
