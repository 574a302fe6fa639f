"""Three real devices of one account editing and syncing at the same moment, many rounds.

Each round every device adds notes and sometimes deletes one of its own, one of them
edits a note they all share (from an old copy if it missed the last edit), then all
three sync at once. Every sync must either complete or be told another device is
syncing (never a server error, a failed sanity check or a full sync), and afterwards
all three converge on what the server holds, with every note any of them added and
did not delete."""

from __future__ import annotations

import random
import re
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.devices import (
    FULL_DOWNLOAD,
    FULL_UPLOAD,
    LogMark,
    assert_converged,
    downloaded_content,
    front_texts,
    new_account,
    next_second,
    note_ids,
    seed,
    sync,
    sync_outcome,
)
from tests.support.anki_client import Profile, add_basic_note, content
from tests.support.server import RunningServer

pytestmark = pytest.mark.e2e

ROUNDS = 8


def sync_at_once(devices: list[Profile]) -> list[str]:
    """Sync all devices in parallel threads; each outcome is ok:<required>, conflict or
    error:<message>."""
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(device: Profile) -> None:
        outcome = sync_outcome(device)
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(d,)) for d in devices]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def edit(device: Profile, name: str, round_: int, shared: int | None, mine: set[str],
         rng: random.Random) -> None:
    """Add three notes, edit the shared note if given, and sometimes delete one of its
    own notes."""
    for i in range(3):
        text = f"{name} {round_} {i}"
        add_basic_note(device.col, text)
        mine.add(text)
    if shared is not None:
        # Note mtimes are seconds, and Anki lets each side keep its copy of a note edited
        # in the same second: a later second makes this edit win everywhere.
        next_second()
        note = device.col.get_note(shared)
        note["Back"] = f"{name} edited in round {round_}"
        device.col.update_note(note)
    own = note_ids(device.col, f"front:{name}*")
    if own and rng.random() < 0.3:
        victim = device.col.get_note(rng.choice(own))
        mine.discard(victim["Front"])
        device.col.remove_notes([victim.id])


def test_three_devices_editing_and_syncing_at_once_converge(
    server: RunningServer, tmp_path: Path
) -> None:
    account = new_account(server)
    devices = [Profile.create(tmp_path / name) for name in "abc"]
    try:
        seed(devices[0].col)
        for i, device in enumerate(devices):
            device.login(*account, server.endpoint)
            assert sync(device) == (FULL_UPLOAD if i == 0 else FULL_DOWNLOAD)
        shared = note_ids(devices[0].col)[0]
        rng = random.Random(7)
        added: dict[str, set[str]] = {name: set() for name in "abc"}
        outcomes: list[str] = []
        mark = LogMark(server)
        for round_ in range(ROUNDS):
            for i, (name, device) in enumerate(zip("abc", devices, strict=True)):
                editor = i == round_ % len(devices)  # one device edits the shared note
                edit(device, name, round_, shared if editor else None, added[name], rng)
                time.sleep(0.05)  # keep the devices' millisecond ids apart
            outcomes += sync_at_once(devices)
        assert set(outcomes) <= {"ok:0", "conflict"}, outcomes
        assert "sanity check failed" not in mark.text()
        assert re.findall(r'"POST /sync/\w+ HTTP/1.1" 5\d\d', mark.text()) == []

        for _ in range(2):  # one at a time now: everything travels
            for device in devices:
                assert sync(device) == 0
        for other in devices[1:]:
            assert_converged(devices[0], other)
        assert content(devices[0].col) == downloaded_content(server.endpoint, account, tmp_path)
        fronts = front_texts(devices[0].col)
        for name in "abc":
            # Only the shared note is edited by every device: each device's own notes
            # are exactly the ones it added and did not delete.
            mine = {f for f in fronts if f.split(" ")[0] == name and len(f.split(" ")) == 3}
            assert mine == added[name], name
    finally:
        for device in devices:
            device.close()
