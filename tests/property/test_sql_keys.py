"""Config keys and tags sync verbatim on every SQL backend.

Anki treats both as arbitrary strings (add-ons write their own config keys), and
the server must store what it does not interpret exactly as received: of any length,
compared byte for byte (case, accents, normal form and trailing spaces count). These
began as the failing cases the verbatim work found on MariaDB, whose utf8mb4_bin
collation ignores trailing spaces and whose keys were VARCHAR(700); each is one sync.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from adapters.sql.uow import SqlUnitOfWorkFactory
from adapters.sql.verbatim import KEY_PREFIX_BYTES
from domain.model import UserId
from domain.sync.server import SyncServer
from tests.support.fakes import FakeClock
from tests.support.replica import ClientReplica, ServerTime, SyncOutcome, server_content

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("mysql", id="mysql", marks=pytest.mark.mysql),
]
pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

# Keys equal under some collation (PAD SPACE, case or accent folding, normalisation).
ALIKE = ["addon key", "addon key ", "addon key  ", "Addon Key", "addon key\t", "addon kéy",
         "addon ke\u0301y", "addon kéy "]
# Longer than the old VARCHAR(700), than MySQL's indexed prefix (in bytes and in
# characters), and pairs that differ only after it.
LONG = [
    "k" * 701,
    "k" * KEY_PREFIX_BYTES,
    "k" * (KEY_PREFIX_BYTES + 1),
    "é" * 3001,
    "🙂" * 3001,
    "k" * 5000 + "a",
    "k" * 5000 + "b",
    "k" * 5000 + "a ",
    "ключ " * 1000,
]


class TwoDevices:
    """Device a uploads its collection (after `before_upload`), device b downloads it."""

    def __init__(
        self, engine: Engine, before_upload: Callable[[ClientReplica], None] | None = None
    ) -> None:
        clock = FakeClock()
        self.uow = SqlUnitOfWorkFactory(engine)
        self.user = UserId(uuid.uuid4().int >> 66)
        self.server = SyncServer(uow=self.uow, clock=ServerTime(clock))
        ids = itertools.count(clock.now_ms() * 1000).__next__
        self.a, self.b = ClientReplica("a", clock, ids), ClientReplica("b", clock, ids)
        if before_upload is not None:
            before_upload(self.a)
        self.a.full_upload(self.server, self.user)
        self.b.full_download(self.server, self.user)
        clock.tick(1000)

    def sync_a_then_b(self) -> None:
        self.sync(self.a, self.b)

    def sync(self, first: ClientReplica, second: ClientReplica) -> None:
        assert first.sync(self.server, self.user) is SyncOutcome.FINISHED
        assert second.sync(self.server, self.user) is SyncOutcome.FINISHED
        self.assert_converged()

    def assert_converged(self) -> None:
        server = server_content(self.uow, self.user)
        assert self.a.content().differences(server) == self.b.content().differences(server) == []


def test_config_keys_differing_only_in_trailing_spaces_both_sync(engine: Engine) -> None:
    devices = TwoDevices(engine)
    devices.a.set_config("addon key", 1)
    devices.a.set_config("addon key ", 2)
    devices.sync_a_then_b()
    assert (devices.b.state.config["addon key"], devices.b.state.config["addon key "]) == (1, 2)


def test_config_keys_alike_under_any_collation_all_sync(engine: Engine) -> None:
    devices = TwoDevices(engine)
    for i, key in enumerate(ALIKE):
        devices.a.set_config(key, i)
    devices.sync_a_then_b()
    assert [devices.b.state.config[key] for key in ALIKE] == list(range(len(ALIKE)))
    devices.b.set_config("addon key ", "changed")  # changes that key, and only that one
    devices.sync(devices.b, devices.a)
    assert [devices.a.state.config[key] for key in ALIKE] == [0, "changed", *range(2, 8)]


def test_tags_alike_under_any_collation_all_sync(engine: Engine) -> None:
    devices = TwoDevices(engine)
    devices.a.add_note(["front", "back"], tags=ALIKE[:4])
    devices.a.add_note(["front", "back"], tags=ALIKE[4:])
    devices.sync_a_then_b()
    assert set(devices.b.state.tags) >= set(ALIKE)


def test_a_tag_longer_than_700_characters_syncs(engine: Engine) -> None:
    devices = TwoDevices(engine)
    devices.a.add_note(["front", "back"], tags=["t" * 701])
    devices.sync_a_then_b()
    assert "t" * 701 in devices.b.state.tags


def test_a_config_key_longer_than_700_characters_syncs(engine: Engine) -> None:
    devices = TwoDevices(engine)
    devices.a.set_config("k" * 701, True)
    devices.sync_a_then_b()
    assert devices.b.state.config["k" * 701] is True


def test_long_config_keys_and_tags_sync_in_both_directions(engine: Engine) -> None:
    devices = TwoDevices(engine)
    for i, key in enumerate(LONG):
        devices.a.set_config(key, i)
    devices.a.add_note(["front", "back"], tags=LONG)
    devices.sync_a_then_b()
    assert [devices.b.state.config[key] for key in LONG] == list(range(len(LONG)))
    assert set(devices.b.state.tags) >= set(LONG)
    devices.b.set_config(LONG[-2], "changed")
    devices.sync(devices.b, devices.a)
    assert devices.a.state.config[LONG[-2]] == "changed"
    assert devices.a.state.config[LONG[-3]] == len(LONG) - 3


def test_long_and_alike_keys_survive_a_full_upload_and_download(engine: Engine) -> None:
    def prepare(a: ClientReplica) -> None:
        for i, key in enumerate(ALIKE + LONG):
            a.set_config(key, i)
        a.add_note(["front", "back"], tags=ALIKE + LONG)

    devices = TwoDevices(engine, prepare)
    devices.assert_converged()
    assert [devices.b.state.config[key] for key in ALIKE + LONG] == list(range(17))
    assert set(devices.b.state.tags) >= set(ALIKE + LONG)
    devices.b.set_config(LONG[-2], "changed")
    devices.sync(devices.b, devices.a)
    assert devices.a.state.config[LONG[-2]] == "changed"
