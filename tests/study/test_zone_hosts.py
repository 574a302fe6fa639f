"""The processes that run Anki on a user's time zone: they schedule on that zone's clock,
carry the port's errors back, are reused, replaced when they die and stopped when idle."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from adapters.study.zone_host import HostFailed, ZoneHosts, posix_zone, valid_zone
from ports.study import NoSuchCard


def test_zone_values() -> None:
    assert posix_zone(-540) == "ANKI-09:00"  # Tokyo: 540 minutes east
    assert posix_zone(330) == "ANKI+05:30"
    assert posix_zone(0) == "ANKI+00:00"
    assert [valid_zone(v) for v in (-540, 0, 345, True, "60", 1.5, 10**6, None)] == [
        -540, 0, 345, None, None, None, None, None]


def _recorded_zone(folder: Path) -> int:
    with closing(sqlite3.connect(folder / "collection.anki2")) as db:
        (value,) = db.execute("SELECT val FROM config WHERE KEY = 'localOffset'").fetchone()
    return int(json.loads(value))


def test_a_process_schedules_on_its_zone_and_is_reused(tmp_path: Path) -> None:
    hosts = ZoneHosts(per_zone=1)
    with hosts.opened(-540, tmp_path) as host:
        assert host.call("deck_name", 1) == "Default"
        assert host.call("next_card", 1) is None  # an empty collection: nothing to study
        with pytest.raises(NoSuchCard):
            host.call("render", 999, False)  # the port's own error, as raised there
        with pytest.raises(RuntimeError, match="AttributeError"):
            host.call("no_such_method")
        assert host.call("can_undo") is False  # still serving after errors
        first = host
    assert _recorded_zone(tmp_path) == -540  # Anki saw Tokyo as its local time
    with hosts.opened(-540, tmp_path) as host:
        assert host is first and hosts.running == 1
    first.stop()


def test_a_dead_process_is_replaced(tmp_path: Path) -> None:
    hosts = ZoneHosts(per_zone=1)
    with hosts.opened(60, tmp_path) as host:
        dead = host
    dead._process.kill()
    dead._process.join(10)
    with pytest.raises(HostFailed), hosts.opened(60, tmp_path):
        pass
    assert hosts.running == 0
    with hosts.opened(60, tmp_path) as host:
        assert host is not dead and host.call("deck_name", 1) == "Default"
    host.stop()


def test_idle_processes_are_stopped(tmp_path: Path) -> None:
    hosts = ZoneHosts(per_zone=2, idle_s=0)
    with hosts.opened(-60, tmp_path) as host:
        old = host
    with hosts.opened(-60, tmp_path) as host:
        assert host is not old and hosts.running == 1
        replacement = host
    old._process.join(10)
    assert not old._process.is_alive()
    replacement.stop()
