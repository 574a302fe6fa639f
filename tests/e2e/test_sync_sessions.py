"""One sync per user at a time: overlapping, out-of-order and broken conversations.

Two hand-driven devices (`WireDevice`, raw v11 HTTP) talk to the server of an account
whose collection two real `anki` devices keep in sync. Whatever the hand-driven
devices get wrong, the server's data must not change, and the real devices must go
on syncing normally afterwards.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from anki.collection import Collection
from anki.errors import SyncError
from sqlalchemy import update

from adapters.sql.dialects import build_engine
from adapters.sql.tables import sync_sessions
from tests.e2e.devices import (
    FULL_DOWNLOAD,
    FULL_SYNC,
    FULL_UPLOAD,
    LogMark,
    assert_converged,
    downloaded_content,
    exchange,
    front_texts,
    linked_pair,
    new_account,
    normal_sync,
    seed,
    sync,
    sync_outcome,
)
from tests.e2e.wire_client import WireDevice
from tests.support.anki_client import Profile, add_basic_note, content
from tests.support.server import RunningServer, restart_server, start_server

pytestmark = pytest.mark.e2e

CONFLICT, BAD_REQUEST = 409, 400


@dataclass
class Setup:
    server: RunningServer
    account: tuple[str, str]
    a: Profile
    b: Profile
    x: WireDevice
    y: WireDevice
    tmp: Path

    def server_content(self) -> dict[str, Any]:
        """What a fresh device downloads now (this also ends any session in progress)."""
        return downloaded_content(self.server.endpoint, self.account, self.tmp)

    def usn(self) -> int:
        usn = self.x.meta().json()["usn"]
        assert isinstance(usn, int)
        return usn

    def real_devices_still_sync(self) -> None:
        """Changes on both real devices still travel, and nothing else appears."""
        add_basic_note(self.a.col, f"after on a {uuid.uuid4().hex[:4]}")
        add_basic_note(self.b.col, f"after on b {uuid.uuid4().hex[:4]}")
        exchange(self.a, self.b)
        assert content(self.b.col) == self.server_content()


@pytest.fixture
def setup(server: RunningServer, profiles: list[Path], tmp_path: Path) -> Iterator[Setup]:
    account = new_account(server)
    a, b = linked_pair(server.endpoint, account, profiles)
    x = WireDevice.login(server.url, *account)
    y = WireDevice.login(server.url, *account)
    yield Setup(server, account, a, b, x, y, tmp_path)
    a.close()
    b.close()


def counts(col: Collection, *, notes: int = 0, cards: int = 0) -> list[Any]:
    """The sanity-check counts a client with `col` (plus the given extra rows) sends."""
    return [
        [0, 0, 0], col.card_count() + cards, col.note_count() + notes,
        len(col.db.list("select id from revlog")), 0,
        len(col.models.all_names_and_ids()), len(col.decks.all_names_and_ids()),
        len(col.decks.all_config()),
    ]


def new_note_row(col: Collection, usn: int, fields: list[str] | None = None,
                 mid: int | None = None) -> list[Any]:
    """A note as a client sends it in `applyChunk`."""
    nid = int(time.time() * 1000) + 123
    mid = mid if mid is not None else int(col.models.by_name("Basic")["id"])
    flds = "\x1f".join(fields if fields is not None else ["wire note", "back"])
    return [nid, uuid.uuid4().hex[:10], mid, int(time.time()), usn, " wire ", flds, "", "", 0,
            ""]


def stage_a_tag(device: WireDevice, usn: int, tag: str) -> None:
    assert device.start(usn).status == 200
    assert device.apply_changes(tags=[tag]).status == 200


# -- overlapping syncs -------------------------------------------------------------------


def test_start_by_another_device_ends_the_first_session(setup: Setup) -> None:
    s = setup
    before = content(s.b.col)  # B mirrors the server (checked by real_devices_still_sync)
    usn = s.usn()
    stage_a_tag(s.x, usn, "staged-by-x")
    assert s.x.chunk().status == 200

    assert s.y.start(usn).status == 200
    assert s.x.chunk().status == CONFLICT
    assert s.x.apply_chunk(done=True).status == CONFLICT
    assert s.x.sanity_check(counts(s.b.col)).status == CONFLICT
    assert s.x.finish().status == CONFLICT
    # The device that took over can carry on.
    assert s.y.apply_changes(tags=[]).status == 200
    assert s.y.abort().status == 200

    assert s.server_content() == before
    s.real_devices_still_sync()
    assert "staged-by-x" not in s.a.col.tags.all()


def test_real_sync_of_another_device_ends_a_session_in_progress(setup: Setup) -> None:
    s = setup
    usn = s.usn()
    stage_a_tag(s.x, usn, "staged-by-x")
    add_basic_note(s.b.col, "synced while x was busy")
    normal_sync(s.b)

    assert s.x.chunk().status == CONFLICT
    assert s.x.finish().status == CONFLICT
    normal_sync(s.a)
    assert_converged(s.a, s.b)
    assert "synced while x was busy" in front_texts(s.a.col)
    assert "staged-by-x" not in s.a.col.tags.all()
    s.real_devices_still_sync()


def test_abort_with_another_session_key_leaves_the_session_alive(setup: Setup) -> None:
    s = setup
    usn = s.usn()
    stage_a_tag(s.x, usn, "kept-by-x")
    assert s.y.abort().status == 200
    assert s.y.abort(skey="not-a-session").json() is None
    assert s.x.chunks_until_done()[-1]["done"] is True
    assert s.x.apply_chunk(done=True).status == 200
    sanity = s.x.sanity_check(counts(s.b.col)).json()
    assert sanity["status"] == "ok", sanity
    mod = s.x.finish().json()
    assert isinstance(mod, int) and mod > 0

    normal_sync(s.b)
    assert "kept-by-x" in s.b.col.tags.all()
    # Aborting is idempotent, also after the session ended.
    assert s.x.abort().status == 200
    assert s.x.abort().status == 200
    s.real_devices_still_sync()


def test_full_upload_by_another_device_ends_a_session_in_progress(setup: Setup) -> None:
    s = setup
    stage_a_tag(s.x, s.usn(), "staged-by-x")
    add_basic_note(s.a.col, "uploaded over x")
    s.a.col.mod_schema(check=False)
    assert sync(s.a, upload=True) in (FULL_SYNC, FULL_UPLOAD)

    assert s.x.chunk().status == CONFLICT
    assert s.x.finish().status == CONFLICT
    assert sync(s.b, upload=False) in (FULL_SYNC, FULL_DOWNLOAD)
    assert_converged(s.a, s.b)
    assert "staged-by-x" not in s.b.col.tags.all()
    s.real_devices_still_sync()


def test_graves_sent_with_start_as_strings_are_applied(setup: Setup) -> None:
    """NOTE: AnkiDroid before 2.16 sends graves in `start`; old AnkiMobile as strings."""
    s = setup
    (victim,) = s.b.col.find_notes('"front:seed 0"')
    (victim_card,) = s.b.col.card_ids_of_note(victim)
    graves = {"cards": [str(victim_card)], "notes": [str(victim)], "decks": []}
    answer = s.x.call("start", {"minUsn": s.usn(), "lnewer": True, "graves": graves})
    assert answer.status == 200
    assert s.x.apply_changes().status == 200
    s.x.chunks_until_done()
    assert s.x.apply_chunk(done=True).status == 200
    assert s.x.sanity_check(counts(s.b.col, notes=-1, cards=-1)).json()["status"] == "ok"
    assert s.x.finish().status == 200

    normal_sync(s.a, s.b)
    for device in (s.a, s.b):
        assert "seed 0" not in front_texts(device.col)
    s.real_devices_still_sync()


def test_a_session_survives_a_server_restart(
    db_url: str, tmp_path: Path, profiles: list[Path]
) -> None:
    """Session state and staged data live in the database, not in a worker."""
    running = start_server(tmp_path / "restartable", db_url)
    try:
        account = new_account(running)
        a, b = linked_pair(running.endpoint, account, profiles)
        x = WireDevice.login(running.url, *account)
        usn = x.meta().json()["usn"]
        stage_a_tag(x, usn, "staged-before-restart")

        running = restart_server(running)
        x.chunks_until_done()
        assert x.apply_chunk(done=True, notes=[new_note_row(b.col, usn)]).status == 200
        assert x.sanity_check(counts(b.col, notes=1)).json()["status"] == "ok"
        assert x.finish().status == 200

        normal_sync(a, b)
        for device in (a, b):
            assert "staged-before-restart" in device.col.tags.all()
            assert "wire note" in front_texts(device.col)
        a.close()
        b.close()
    finally:
        running.stop()


def test_an_abandoned_session_expires(setup: Setup, db_url: str) -> None:
    s = setup
    before = content(s.b.col)  # B mirrors the server (checked by real_devices_still_sync)
    stage_a_tag(s.x, s.usn(), "abandoned")
    user_id = int(s.x.hkey.split(".", 1)[0])
    engine = build_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(update(sync_sessions).where(sync_sessions.c.user_id == user_id)
                         .values(touched_ms=sync_sessions.c.touched_ms - 16 * 60 * 1000))
    finally:
        engine.dispose()
    assert s.x.chunk().status == CONFLICT
    assert s.x.finish().status == CONFLICT
    assert s.server_content() == before
    s.real_devices_still_sync()


def test_finish_cannot_be_repeated(setup: Setup) -> None:
    s = setup
    stage_a_tag(s.x, s.usn(), "once")
    s.x.chunks_until_done()
    assert s.x.apply_chunk(done=True).status == 200
    assert s.x.sanity_check(counts(s.b.col)).json()["status"] == "ok"
    assert s.x.finish().status == 200
    assert s.x.finish().status == CONFLICT
    s.real_devices_still_sync()


def test_two_real_devices_syncing_at_once_get_conflicts_never_errors(setup: Setup) -> None:
    """Each of two simultaneous syncs either succeeds or is told another device syncs."""
    s = setup
    outcomes: dict[str, list[str]] = {"a": [], "b": []}

    def run(name: str, device: Profile) -> None:
        outcomes[name].append(sync_outcome(device))

    mark = LogMark(s.server)
    for round_ in range(10):
        for name, device in (("a", s.a), ("b", s.b)):
            for i in range(10):
                add_basic_note(device.col, f"{name} {round_} {i}")
            # Note ids are millisecond timestamps (run ahead by a few ms within a batch):
            # keep the two devices' ids apart, or they would make the same note twice.
            time.sleep(0.05)
        threads = [threading.Thread(target=run, args=(n, d)) for n, d in (("a", s.a), ("b", s.b))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert set(outcomes["a"] + outcomes["b"]) <= {"ok:0", "conflict"}, outcomes
    assert re.findall(r'"POST /sync/\w+ HTTP/1.1" 5\d\d', mark.text()) == []

    exchange(s.a, s.b)
    assert s.a.col.note_count() == 8 + 200
    assert content(s.b.col) == s.server_content()


def test_many_users_syncing_at_once_never_get_a_server_error(
    request: pytest.FixtureRequest, server: RunningServer, backend: str, tmp_path: Path
) -> None:
    """Syncs of different users share tables but must never break each other."""
    devices = []
    for i in range(6):
        device = Profile.create(tmp_path / f"user-{i}")
        seed(device.col)
        device.login(*new_account(server), server.endpoint)
        assert sync(device) == FULL_UPLOAD
        devices.append(device)
    outcomes: list[str] = []

    def run(device: Profile) -> None:
        for round_ in range(6):
            for i in range(30):
                add_basic_note(device.col, f"round {round_} note {i}")
            device.col.remove_notes(list(device.col.find_notes(""))[:3])
            try:
                outcomes.append(f"ok:{sync(device)}")
            except SyncError as error:
                outcomes.append(f"error:{error}")

    mark = LogMark(server)
    threads = [threading.Thread(target=run, args=(device,)) for device in devices]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for device in devices:
        device.close()
    failed = re.findall(r'"POST /sync/(\w+) HTTP/1.1" (5\d\d)', mark.text())
    assert (failed, sorted(set(outcomes))) == ([], ["ok:0"])


# -- broken conversations ----------------------------------------------------------------


def _after_start(s: Setup) -> None:
    assert s.x.start(s.usn()).status == 200


def _after_changes(s: Setup) -> None:
    stage_a_tag(s.x, s.usn(), "staged-by-x")


def _after_sanity(s: Setup) -> None:
    stage_a_tag(s.x, s.usn(), "staged-by-x")
    s.x.chunks_until_done()
    assert s.x.apply_chunk(done=True).status == 200
    assert s.x.sanity_check(counts(s.b.col)).json()["status"] == "ok"


OUT_OF_ORDER = {
    "chunk-before-applyChanges": (_after_start, lambda x: x.chunk()),
    "applyChunk-before-applyChanges": (_after_start, lambda x: x.apply_chunk(done=True)),
    "sanityCheck2-before-applyChanges": (_after_start,
                                         lambda x: x.sanity_check([[0, 0, 0], *[0] * 7])),
    "finish-right-after-start": (_after_start, lambda x: x.finish()),
    "applyGraves-after-applyChanges": (_after_changes, lambda x: x.apply_graves(notes=[1])),
    "applyChanges-twice": (_after_changes, lambda x: x.apply_changes(tags=["again"])),
    "finish-before-sanityCheck2": (_after_changes, lambda x: x.finish()),
    "applyChunk-after-sanityCheck2": (_after_sanity, lambda x: x.apply_chunk(done=True)),
}


@pytest.mark.parametrize("case", list(OUT_OF_ORDER))
def test_step_out_of_order_is_rejected_and_ends_the_session(setup: Setup, case: str) -> None:
    s = setup
    before = content(s.b.col)  # B mirrors the server (checked by real_devices_still_sync)
    prepare, wrong_step = OUT_OF_ORDER[case]
    prepare(s)
    assert wrong_step(s.x).status == BAD_REQUEST
    assert s.x.chunk().status == CONFLICT
    assert s.x.finish().status == CONFLICT
    assert s.server_content() == before
    s.real_devices_still_sync()


def test_steps_without_a_session_are_conflicts(setup: Setup) -> None:
    s = setup
    s.usn()
    assert s.x.apply_changes(tags=["nobody"]).status == CONFLICT
    assert s.x.chunk().status == CONFLICT
    assert s.x.finish().status == CONFLICT
    s.real_devices_still_sync()


def test_missing_session_key_is_a_bad_request(setup: Setup) -> None:
    s = setup
    before = content(s.b.col)  # B mirrors the server (checked by real_devices_still_sync)
    usn = s.usn()
    assert s.x.call("start", {"minUsn": usn, "lnewer": False}, skey="").status == BAD_REQUEST
    assert s.x.apply_changes(tags=["no-key"]).status == CONFLICT

    stage_a_tag(s.x, usn, "with-key")
    empty_key_steps = {
        "applyChanges": {"changes": {"models": [], "decks": [[], []], "tags": ["no-key"]}},
        "chunk": {},
        "applyChunk": {"chunk": {"done": True}},
        "sanityCheck2": {"client": counts(s.b.col)},
        "finish": {},
    }
    for method, payload in empty_key_steps.items():
        assert s.x.call(method, payload, skey="").status == BAD_REQUEST, method
    assert s.x.abort().status == 200
    assert s.server_content() == before
    s.real_devices_still_sync()


@pytest.mark.parametrize("problem", ["unknown-note-type", "wrong-field-count"])
def test_bad_note_in_apply_chunk_is_rejected_and_ends_the_session(
    setup: Setup, problem: str
) -> None:
    s = setup
    before = content(s.b.col)  # B mirrors the server (checked by real_devices_still_sync)
    usn = s.usn()
    stage_a_tag(s.x, usn, "staged-by-x")
    s.x.chunks_until_done()
    good = new_note_row(s.b.col, usn)
    assert s.x.apply_chunk(done=False, notes=[good]).status == 200
    if problem == "unknown-note-type":
        bad = new_note_row(s.b.col, usn, mid=424242424242)
    else:
        bad = new_note_row(s.b.col, usn, fields=["one", "two", "three"])
    bad[0] += 1
    assert s.x.apply_chunk(done=True, notes=[bad]).status == BAD_REQUEST
    assert s.x.apply_chunk(done=True).status == CONFLICT
    assert s.x.sanity_check(counts(s.b.col, notes=1)).status == CONFLICT
    assert s.server_content() == before
    s.real_devices_still_sync()
    assert "wire note" not in front_texts(s.a.col)


def test_failed_sanity_check_leaves_the_server_unchanged(setup: Setup) -> None:
    s = setup
    before = content(s.b.col)  # B mirrors the server (checked by real_devices_still_sync)
    usn = s.usn()
    (victim,) = s.b.col.find_notes('"front:seed 0"')
    (victim_card,) = s.b.col.card_ids_of_note(victim)
    assert s.x.start(usn).status == 200
    assert s.x.apply_graves(cards=[victim_card], notes=[victim]).status == 200
    assert s.x.apply_changes(tags=["staged-by-x"]).status == 200
    s.x.chunks_until_done()
    assert s.x.apply_chunk(done=True, notes=[new_note_row(s.b.col, usn)]).status == 200

    wrong = counts(s.b.col)  # ignores the note added and the one deleted: cards are off by one
    answer = s.x.sanity_check(wrong).json()
    assert answer["status"] == "bad"
    assert answer["s"] is not None and answer["s"] != answer["c"]
    assert s.x.finish().status in (BAD_REQUEST, CONFLICT)
    assert s.x.finish().status == CONFLICT
    assert s.server_content() == before
    s.real_devices_still_sync()
    assert "seed 0" in front_texts(s.a.col)


def test_right_counts_pass_the_sanity_check_and_finish_applies_everything(
    setup: Setup
) -> None:
    """The same conversation as above, with the right counts, does change the server."""
    s = setup
    usn = s.usn()
    (victim,) = s.b.col.find_notes('"front:seed 0"')
    (victim_card,) = s.b.col.card_ids_of_note(victim)
    assert s.x.start(usn).status == 200
    assert s.x.apply_graves(cards=[victim_card], notes=[victim]).status == 200
    assert s.x.apply_changes(tags=["staged-by-x"]).status == 200
    s.x.chunks_until_done()
    assert s.x.apply_chunk(done=True, notes=[new_note_row(s.b.col, usn)]).status == 200
    right = counts(s.b.col, notes=0, cards=-1)
    answer = s.x.sanity_check(right).json()
    assert answer["status"] == "ok", answer
    assert s.x.finish().status == 200

    normal_sync(s.a, s.b)
    for device in (s.a, s.b):
        assert "seed 0" not in front_texts(device.col)
        assert "wire note" in front_texts(device.col)
    s.real_devices_still_sync()
