"""A current Anki client (anki 26.9.3, protocol v11) logs in, uploads and downloads."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from anki.collection import Collection
from anki.errors import NetworkError, SyncError

from tests.support.anki_client import Profile, add_basic_note, content
from tests.support.server import RunningServer, start_server

pytestmark = pytest.mark.e2e

FULL_UPLOAD, FULL_DOWNLOAD, NO_CHANGES = 4, 3, 0


def build_rich_collection(col: Collection) -> None:
    """Everything a real collection has: nested decks, presets, note types, reviews, tags."""
    for i in range(30):
        add_basic_note(col, f"front {i} ünïcödé 漢字 🙂", f"back <b>{i}</b>",
                       deck="Languages::Japanese::Kanji" if i % 2 else "Default",
                       tags=["vocab", "level::one"] if i % 3 else [])
    add_basic_note(col, "big field", "x" * 200_000)
    cloze = col.models.by_name("Cloze")
    note = col.new_note(cloze)
    note["Text"] = "{{c1::Paris}} is the capital of {{c2::France}}"
    col.add_note(note, col.decks.id("Geography"))

    model = col.models.new("Custom Vocab")
    for name in ("Word", "Meaning", "Example"):
        col.models.add_field(model, col.models.new_field(name))
    template = col.models.new_template("Recognition")
    template["qfmt"], template["afmt"] = "{{Word}}", "{{FrontSide}}<hr id=answer>{{Meaning}}"
    col.models.add_template(model, template)
    model["css"] = ".card { color: teal; }"
    col.models.add_dict(model)
    custom = col.new_note(col.models.by_name("Custom Vocab"))
    custom["Word"], custom["Meaning"], custom["Example"] = "猫", "cat", "猫がいる"
    col.add_note(custom, col.decks.id("Languages"))

    conf_id = col.decks.add_config_returning_id("Intensive")
    conf = col.decks.get_config(conf_id)
    conf["new"]["perDay"] = 55
    conf["rev"]["maxIvl"] = 1234
    col.decks.update_config(conf)
    deck = col.decks.by_name("Languages::Japanese")
    deck["conf"] = conf_id
    col.decks.save(deck)

    col.decks.select(col.decks.id("Default"))
    for _ in range(5):
        card = col.sched.getCard()
        if card is None:
            break
        col.sched.answerCard(card, 3)
    filtered = col.decks.new_filtered("Cram")
    col.sched.rebuild_filtered_deck(filtered)
    col.set_config("myaddon", {"nested": [1, 2.5, "x"], "flag": True})


def test_wrong_password_is_refused_and_right_one_gets_a_key(
    server: RunningServer, account: tuple[str, str], profiles: list[Path]
) -> None:
    user, password = account
    device = Profile.create(profiles[0])
    with pytest.raises(SyncError):
        device.login(user, password + "x", server.endpoint)
    with pytest.raises(SyncError):
        device.login("nobody-" + user, password, server.endpoint)
    auth = device.login(user, password, server.endpoint)
    assert len(auth.hkey) > 32
    device.close()


def test_new_account_asks_for_upload_then_reports_no_changes(
    server: RunningServer, account: tuple[str, str], profiles: list[Path]
) -> None:
    device = Profile.create(profiles[0])
    add_basic_note(device.col, "hello")
    device.login(*account, server.endpoint)
    assert device.sync() == FULL_UPLOAD
    assert device.sync() == NO_CHANGES
    device.close()


def test_upload_then_download_into_empty_profile_loses_nothing(
    server: RunningServer, account: tuple[str, str], profiles: list[Path]
) -> None:
    a, b = Profile.create(profiles[0]), Profile.create(profiles[1])
    build_rich_collection(a.col)
    a.login(*account, server.endpoint)
    assert a.sync() == FULL_UPLOAD
    b.login(*account, server.endpoint)
    assert b.sync() == FULL_DOWNLOAD
    assert content(b.col) == content(a.col)
    assert b.col.get_config("myaddon") == {"nested": [1, 2.5, "x"], "flag": True}
    assert b.sync() == NO_CHANGES
    assert a.sync() == NO_CHANGES
    a.close()
    b.close()


def test_second_upload_replaces_the_first(
    server: RunningServer, account: tuple[str, str], profiles: list[Path], tmp_path: Path
) -> None:
    a = Profile.create(profiles[0])
    add_basic_note(a.col, "first upload")
    a.login(*account, server.endpoint)
    a.sync(upload=True)

    other = Profile.create(tmp_path / "other")
    add_basic_note(other.col, "second upload")
    other.login(*account, server.endpoint)
    other.col.mod_schema(check=False)
    assert other.sync(upload=True) in (4, 2)

    b = Profile.create(profiles[1])
    b.login(*account, server.endpoint)
    b.sync(upload=False)
    fronts = [b.col.get_note(n)["Front"] for n in b.col.find_notes("")]
    assert fronts == ["second upload"]
    for p in (a, b, other):
        p.close()


def test_downloading_a_never_used_account_gives_a_working_collection(
    server: RunningServer, account: tuple[str, str], profiles: list[Path]
) -> None:
    device = Profile.create(profiles[0])
    device.login(*account, server.endpoint)
    device.sync(upload=False)
    assert device.col.decks.by_name("Default") is not None
    add_basic_note(device.col, "works after download")
    assert device.col.note_count() == 1
    device.close()


def test_full_download_after_normal_syncs_holds_every_change(
    server: RunningServer, account: tuple[str, str], profiles: list[Path], tmp_path: Path
) -> None:
    """The download after normal syncs is the kept upload brought up to date: edits,
    deletions, reviews, new decks and config from two devices all reach a third device
    that downloads, and it goes on with normal syncs."""
    a, b = Profile.create(profiles[0]), Profile.create(profiles[1])
    build_rich_collection(a.col)
    a.login(*account, server.endpoint)
    assert a.sync() == FULL_UPLOAD
    b.login(*account, server.endpoint)
    assert b.sync() == FULL_DOWNLOAD  # the kept upload, sent as it is
    mark = len(server.log())

    first, second, *_ = a.col.find_notes("")
    note = a.col.get_note(first)
    note["Back"] = "edited on a"
    a.col.update_note(note)
    a.col.remove_notes([second])
    a.col.decks.select(a.col.decks.id("Languages::Japanese::Kanji"))
    for _ in range(3):
        card = a.col.sched.getCard()
        if card is not None:
            a.col.sched.answerCard(card, 1)
    a.col.decks.id("Added on a")
    assert a.sync() == NO_CHANGES
    add_basic_note(b.col, "added on b", deck="Added on b", tags=["from-b"])
    b.col.set_config("myaddon", {"changed": True})  # the newer side's config wins
    assert b.sync() == NO_CHANGES
    assert a.sync() == NO_CHANGES

    c = Profile.create(tmp_path / "device-c")
    c.login(*account, server.endpoint)
    assert c.sync(upload=False) == FULL_DOWNLOAD
    assert content(c.col) == content(a.col) == content(b.col)
    assert c.col.get_config("myaddon") == a.col.get_config("myaddon") == {"changed": True}
    assert "kept download not used" not in server.log()[mark:]

    add_basic_note(c.col, "added on c")
    assert c.sync() == NO_CHANGES
    assert a.sync() == NO_CHANGES
    assert content(a.col) == content(c.col)
    for device in (a, b, c):
        device.close()


def test_a_real_client_is_told_to_wait_after_failed_logins(
    db_url: str, profiles: list[Path], tmp_path: Path
) -> None:
    """Anki 26.9.3 shows a 429 as "A network error occurred" with the status in the
    details (the README says so). A server as configured by default: throttling on."""
    server = start_server(tmp_path / "throttled", db_url, workers=1,
                          ANKISERV_LOGIN_THROTTLE="1")
    try:
        user, password = f"user-{uuid.uuid4().hex[:8]}", "pw-" + uuid.uuid4().hex[:8]
        server.add_user(user, password)
        device = Profile.create(profiles[0])
        for _ in range(5):
            with pytest.raises(SyncError):  # "AnkiWeb ID or password was incorrect"
                device.login(user, "wrong", server.endpoint)
        with pytest.raises(NetworkError) as throttled:
            device.login(user, password, server.endpoint)
        assert str(throttled.value).startswith("A network error occurred.")
        assert "429 Too Many Requests" in str(throttled.value)
        time.sleep(1.1)  # the first wait is a second
        assert device.login(user, password, server.endpoint).hkey
        device.close()
    finally:
        server.stop()
