"""Two `anki` 26.9.3 devices of one account keep each other up to date with normal syncs.

Device A uploads, device B downloads; after that every sync must be a normal sync
(`sync()` returns 0) unless a test makes a schema change on purpose.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.devices import (
    FULL_DOWNLOAD,
    FULL_SYNC,
    FULL_UPLOAD,
    NO_CHANGES,
    LogMark,
    assert_converged,
    exchange,
    front_texts,
    linked_pair,
    new_account,
    next_second,
    normal_sync,
    note_ids,
    requests_in,
    sync,
)
from tests.support.anki_client import Profile, add_basic_note, content
from tests.support.server import (
    RunningServer,
    add_user_in_process,
    restart_server,
    start_server,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def fresh_account(server: RunningServer) -> tuple[str, str]:
    return new_account(server)


@pytest.fixture
def pair(server: RunningServer, fresh_account: tuple[str, str],
         profiles: list[Path]) -> Iterator[tuple[Profile, Profile]]:
    a, b = linked_pair(server.endpoint, fresh_account, profiles)
    yield a, b
    a.close()
    b.close()


def edit(profile: Profile, nid: int, **fields: str) -> None:
    note = profile.col.get_note(nid)
    for name, value in fields.items():
        note[name] = value
    profile.col.update_note(note)


def find_one(profile: Profile, front: str) -> int:
    (nid,) = note_ids(profile.col, f'"front:{front}"')
    return nid


# -- notes and cards ---------------------------------------------------------------------


def test_notes_added_on_either_device_reach_the_other(pair: tuple[Profile, Profile]) -> None:
    a, b = pair
    add_basic_note(a.col, "from a", "ä 漢字", deck="New From A", tags=["made-on-a"])
    exchange(a, b)
    assert "from a" in front_texts(b.col)
    assert b.col.decks.by_name("New From A") is not None

    add_basic_note(b.col, "from b", "🙂", tags=["made-on-b"])
    big = add_basic_note(b.col, "also from b", "<p>" + "x" * 200_000 + "</p>")
    exchange(a, b)
    assert {"from a", "from b", "also from b"} <= front_texts(a.col)
    assert len(a.col.get_note(big)["Back"]) == 200_007
    assert a.col.note_count() == b.col.note_count() == 11


def test_field_and_tag_edits_travel_both_ways(pair: tuple[Profile, Profile]) -> None:
    a, b = pair
    edit(a, find_one(a, "seed 0"), Back="edited on a")
    exchange(a, b)
    assert b.col.get_note(find_one(b, "seed 0"))["Back"] == "edited on a"

    note = b.col.get_note(find_one(b, "seed 1"))
    note.tags = ["seed", "retagged::on-b"]
    b.col.update_note(note)
    edit(b, find_one(b, "extra 0"), Front="extra 0", Back="<i>edited on b</i>")
    exchange(a, b)
    assert a.col.get_note(find_one(a, "seed 1")).tags == ["retagged::on-b", "seed"]
    assert a.col.get_note(find_one(a, "extra 0"))["Back"] == "<i>edited on b</i>"
    assert "retagged::on-b" in a.col.tags.all()


def test_note_deletions_travel_both_ways(pair: tuple[Profile, Profile]) -> None:
    a, b = pair
    a.col.remove_notes([find_one(a, "seed 0"), find_one(a, "two-way")])
    exchange(a, b)
    assert not {"seed 0", "two-way"} & front_texts(b.col)
    assert b.col.card_count() == a.col.card_count() == 6

    b.col.remove_notes([find_one(b, "extra 1")])
    exchange(a, b)
    assert "extra 1" not in front_texts(a.col)
    assert a.col.note_count() == 5


def test_card_deletions_keep_the_note_on_both_devices(pair: tuple[Profile, Profile]) -> None:
    a, b = pair
    nid = find_one(a, "two-way")
    reverse_card = next(c for c in a.col.card_ids_of_note(nid) if a.col.get_card(c).ord == 1)
    a.col.remove_cards_and_orphaned_notes([reverse_card])
    exchange(a, b)
    assert [b.col.get_card(c).ord for c in b.col.card_ids_of_note(nid)] == [0]

    (forward,) = b.col.card_ids_of_note(nid)
    b.col.remove_cards_and_orphaned_notes([forward])
    exchange(a, b)
    assert "two-way" not in front_texts(a.col)


def test_deck_deletions_with_and_without_cards(pair: tuple[Profile, Profile]) -> None:
    a, b = pair
    empty = a.col.decks.id("Empty Deck")
    exchange(a, b)
    assert b.col.decks.by_name("Empty Deck") is not None

    a.col.decks.remove([empty])
    b.col.decks.remove([b.col.decks.id("Extra")])
    exchange(a, b)
    for device in (a, b):
        assert device.col.decks.by_name("Empty Deck") is None
        assert device.col.decks.by_name("Extra") is None
        assert not {"extra 0", "extra 1", "extra 2"} & front_texts(device.col)
    assert a.col.card_count() == 6


def test_deck_renames_travel_both_ways(pair: tuple[Profile, Profile]) -> None:
    a, b = pair
    a.col.decks.rename(a.col.decks.id("Extra"), "Languages::Extra")
    exchange(a, b)
    assert b.col.decks.by_name("Languages::Extra") is not None
    assert b.col.decks.by_name("Extra") is None

    b.col.decks.rename(b.col.decks.id("Languages"), "Sprachen")
    exchange(a, b)
    assert a.col.decks.by_name("Sprachen::Extra") is not None
    assert len(a.col.find_cards('"deck:Sprachen::Extra"')) == 3


def test_filtered_deck_built_on_one_device_and_emptied_on_the_other(
    pair: tuple[Profile, Profile]
) -> None:
    a, b = pair
    cram = a.col.decks.new_filtered("Cram")
    a.col.sched.rebuild_filtered_deck(cram)
    moved = a.col.find_cards("deck:Cram")
    assert moved
    exchange(a, b)
    assert sorted(b.col.find_cards("deck:Cram")) == sorted(moved)

    b.col.sched.empty_filtered_deck(cram)
    exchange(a, b)
    assert a.col.find_cards("deck:Cram") == []
    assert all(a.col.get_card(c).odid == 0 for c in moved)


def test_reviews_on_both_devices_keep_every_revlog_entry(
    pair: tuple[Profile, Profile]
) -> None:
    a, b = pair
    a.col.decks.select(a.col.decks.id("Default"))
    answered_on_a = [answer_next(a, ease) for ease in (3, 1)]
    # A review's id is the millisecond it was answered in: two devices answering within
    # the same one would share an id (Anki keeps one entry), which real devices never do.
    _past(max(a.col.db.list("select id from revlog")))
    b.col.decks.select(b.col.decks.id("Extra"))
    answered_on_b = [answer_next(b, ease) for ease in (4, 3)]
    assert len(a.col.db.list("select id from revlog")) == 2
    exchange(a, b)
    assert len(b.col.db.list("select id from revlog")) == 4
    for cid in answered_on_a + answered_on_b:
        assert a.col.get_card(cid).reps == b.col.get_card(cid).reps == 1

    # The same card reviewed again on the other device: both reviews are kept.
    b.col.decks.select(b.col.decks.id("Default"))
    card = b.col.get_card(answered_on_a[1])
    card.start_timer()
    b.col.sched.answerCard(card, 3)
    exchange(a, b)
    assert a.col.get_card(answered_on_a[1]).reps == 2
    assert len(a.col.db.list("select id from revlog where cid = ?", answered_on_a[1])) == 2


def _past(millisecond: int) -> None:
    while time.time() * 1000 <= millisecond + 1:
        time.sleep(0.001)


def answer_next(profile: Profile, ease: int) -> int:
    card = profile.col.sched.getCard()
    assert card is not None
    profile.col.sched.answerCard(card, ease)
    return int(card.id)


SORT_FIELD_CASES = ["  padded  ", "[sound:a.mp3]", "line\nbreak", "<img src='pic.jpg'>",
                    "a<br/>b", "[[type:Back]]q", " \t tab"]


def test_downloaded_notes_keep_the_sort_field_and_checksum_anki_computed(
    server: RunningServer, fresh_account: tuple[str, str], pair: tuple[Profile, Profile],
    tmp_path: Path,
) -> None:
    """Notes that reached the server by normal sync must download with Anki's own sfld/csum.

    The duplicate check compares csum, so a wrong csum hides duplicates on every device
    that later downloads the collection.
    """
    a, b = pair
    ids = [add_basic_note(a.col, front, "back") for front in SORT_FIELD_CASES]
    exchange(a, b)
    fresh = Profile.create(tmp_path / "fresh")
    fresh.login(*fresh_account, server.endpoint)
    try:
        sync(fresh, upload=False)

        def derived(profile: Profile) -> list[object]:
            return [profile.col.db.first("select sfld, csum from notes where id = ?", nid)
                    for nid in ids]

        assert derived(b) == derived(a)  # the receiving client recomputes them itself
        assert derived(fresh) == derived(a)
    finally:
        fresh.close()


# -- decks, presets, note types, tags, config ------------------------------------------


def test_deck_preset_changes_travel_both_ways(pair: tuple[Profile, Profile]) -> None:
    a, b = pair
    conf = a.col.decks.get_config(1)
    conf["new"]["perDay"] = 42
    a.col.decks.update_config(conf)
    preset = a.col.decks.add_config_returning_id("From A")
    extra = a.col.decks.by_name("Extra")
    extra["conf"] = preset
    a.col.decks.save(extra)
    exchange(a, b)
    assert b.col.decks.get_config(1)["new"]["perDay"] == 42
    assert b.col.decks.by_name("Extra")["conf"] == preset

    conf = b.col.decks.get_config(preset)
    conf["rev"]["maxIvl"] = 777
    b.col.decks.update_config(conf)
    exchange(a, b)
    assert a.col.decks.get_config(preset)["rev"]["maxIvl"] == 777


def test_note_type_css_and_template_edits_travel_both_ways(
    pair: tuple[Profile, Profile]
) -> None:
    a, b = pair
    model = a.col.models.by_name("Basic")
    model["css"] = ".card { color: rebeccapurple; }"
    a.col.models.update_dict(model)
    exchange(a, b)
    assert b.col.models.by_name("Basic")["css"] == ".card { color: rebeccapurple; }"

    model = b.col.models.by_name("Basic")
    model["tmpls"][0]["qfmt"] = "<div class=q>{{Front}}</div>"
    b.col.models.update_dict(model)
    exchange(a, b)
    assert a.col.models.by_name("Basic")["tmpls"][0]["qfmt"] == "<div class=q>{{Front}}</div>"


def test_new_note_type_with_notes_reaches_the_other_device(
    pair: tuple[Profile, Profile]
) -> None:
    a, b = pair
    model = a.col.models.new("Vocab")
    for name in ("Word", "Meaning"):
        a.col.models.add_field(model, a.col.models.new_field(name))
    template = a.col.models.new_template("Card 1")
    template["qfmt"], template["afmt"] = "{{Word}}", "{{Meaning}}"
    a.col.models.add_template(model, template)
    a.col.models.add_dict(model)
    note = a.col.new_note(a.col.models.by_name("Vocab"))
    note["Word"], note["Meaning"] = "犬", "dog"
    a.col.add_note(note, a.col.decks.id("Default"))
    exchange(a, b)
    assert b.col.get_note(note.id)["Meaning"] == "dog"


def test_tag_added_and_renamed(pair: tuple[Profile, Profile]) -> None:
    a, b = pair
    nid = find_one(a, "seed 2")
    a.col.tags.bulk_add([nid], "added-on-a")
    exchange(a, b)
    assert "added-on-a" in b.col.tags.all()

    b.col.tags.rename("extra", "renamed-on-b")
    normal_sync(a, b, a)
    for device in (a, b):
        assert {"renamed-on-b", "added-on-a"} <= set(device.col.tags.all())
        assert device.col.find_notes("tag:extra") == []
        assert len(device.col.find_notes("tag:renamed-on-b")) == 3
    # Tag deletions are not synced (protocol §3.7): A still lists the old, unused tag.
    a.col.tags.clear_unused_tags()
    assert_converged(a, b)


def test_config_changes_travel_both_ways(pair: tuple[Profile, Profile]) -> None:
    a, b = pair
    a.col.set_config("myAddon", {"from": "a", "n": [1, 2]})
    exchange(a, b)
    assert b.col.get_config("myAddon") == {"from": "a", "n": [1, 2]}

    b.col.set_config("myAddon", {"from": "b"})
    b.col.set_config("otherKey", 7)
    exchange(a, b)
    assert a.col.get_config("myAddon") == {"from": "b"}
    assert a.col.get_config("otherKey") == 7


# -- conflicts and full syncs ----------------------------------------------------------


@pytest.mark.parametrize("later_syncs_first", [False, True], ids=["earlier-first", "later-first"])
def test_conflicting_edits_of_one_note_the_later_wins_everywhere(
    pair: tuple[Profile, Profile], later_syncs_first: bool
) -> None:
    a, b = pair
    nid = find_one(a, "seed 3")
    edit(a, nid, Back="earlier edit on a")
    add_basic_note(a.col, "unrelated on a")
    next_second()
    edit(b, nid, Back="later edit on b")
    add_basic_note(b.col, "unrelated on b")
    assert b.col.get_note(nid).mod > a.col.get_note(nid).mod

    order = (b, a, b) if later_syncs_first else (a, b, a)
    normal_sync(*order)
    assert_converged(a, b)
    for device in (a, b):
        assert device.col.get_note(nid)["Back"] == "later edit on b"
        assert {"unrelated on a", "unrelated on b"} <= front_texts(device.col)


@pytest.mark.parametrize("how", ["add-field", "mod-schema"])
def test_schema_change_forces_a_full_sync_then_both_converge(
    pair: tuple[Profile, Profile], how: str
) -> None:
    a, b = pair
    if how == "add-field":
        model = a.col.models.by_name("Basic")
        a.col.models.add_field(model, a.col.models.new_field("Extra Field"))
        a.col.models.update_dict(model)
    else:
        a.col.mod_schema(check=False)
    add_basic_note(a.col, "after schema change")
    assert sync(a, upload=True) in (FULL_SYNC, FULL_UPLOAD)
    assert sync(b, upload=False) in (FULL_SYNC, FULL_DOWNLOAD)
    assert_converged(a, b)
    assert "after schema change" in front_texts(b.col)
    if how == "add-field":
        assert len(b.col.models.by_name("Basic")["flds"]) == 3

    add_basic_note(b.col, "normal again")
    exchange(a, b)
    assert "normal again" in front_texts(a.col)


def test_note_type_field_count_mismatch_fails_without_a_full_sync(
    server: RunningServer, pair: tuple[Profile, Profile]
) -> None:
    """A field added without marking the schema modified must be refused, not merged."""
    a, b = pair
    model = a.col.models.by_name("Basic")
    a.col.models.add_field(model, a.col.models.new_field("Sneaky"))
    a.col.models.update_dict(model)
    # Pretend the schema did not change, so the client tries a normal sync.
    a.col.db.execute("update col set scm = ?", b.col.db.scalar("select scm from col"))
    before = content(b.col)
    with pytest.raises(Exception):  # noqa: B017 - the client raises a backend error
        sync(a)
    assert sync(b) == NO_CHANGES
    assert content(b.col) == before


# -- volume, no-op and restart -------------------------------------------------------


def test_many_changes_need_several_chunks_and_grave_batches(
    server: RunningServer, pair: tuple[Profile, Profile]
) -> None:
    a, b = pair
    for i in range(300):
        add_basic_note(a.col, f"bulk a {i}", tags=["bulk"])
    mark = LogMark(server)
    normal_sync(a)
    assert requests_in(mark.wait_for("finish"), "applyChunk") >= 2

    mark = LogMark(server)
    normal_sync(b)
    assert requests_in(mark.wait_for("finish"), "chunk") >= 2
    assert_converged(a, b)

    b.col.remove_notes(note_ids(b.col, "tag:bulk"))
    for i in range(300):
        add_basic_note(b.col, f"bulk b {i}")
    mark = LogMark(server)
    normal_sync(b)
    log = mark.wait_for("finish")
    assert requests_in(log, "applyGraves") >= 2
    assert requests_in(log, "applyChunk") >= 2

    mark = LogMark(server)
    normal_sync(a)
    assert requests_in(mark.wait_for("finish"), "chunk") >= 2
    assert_converged(a, b)
    assert a.col.note_count() == 308
    assert not note_ids(a.col, "tag:bulk")


def test_sync_without_changes_only_asks_for_meta(
    server: RunningServer, pair: tuple[Profile, Profile]
) -> None:
    a, b = pair
    add_basic_note(a.col, "one change")
    exchange(a, b)
    # A synced last, so its `mod` equals the server's: meta alone says there is nothing to do.
    mark = LogMark(server)
    assert sync(a) == NO_CHANGES
    log = mark.wait_for("meta")
    assert requests_in(log, "meta") == 1
    assert requests_in(log, "start") == 0, log
    # B has not seen A's last (empty) sync yet: one normal sync, then nothing again.
    mark = LogMark(server)
    assert sync(b) == NO_CHANGES
    assert sync(b) == NO_CHANGES
    log = mark.wait_for("meta", 2)
    assert requests_in(log, "meta") == 2
    assert requests_in(log, "start") == 1, log


def test_sync_after_server_restart_needs_no_new_login(
    db_url: str, tmp_path: Path, profiles: list[Path]
) -> None:
    running = start_server(tmp_path / "restartable", db_url)
    try:
        add_user_in_process(running, "restart-user", "restart-pass")
        a, b = linked_pair(running.endpoint, ("restart-user", "restart-pass"), profiles)
        add_basic_note(a.col, "before restart")
        exchange(a, b)

        running = restart_server(running)
        add_basic_note(a.col, "after restart on a")
        add_basic_note(b.col, "after restart on b")
        exchange(a, b)
        assert {"before restart", "after restart on a", "after restart on b"} <= front_texts(
            b.col)
        a.close()
        b.close()
    finally:
        running.stop()
