"""Note types with hostile templates cannot make the JSON API burn minutes of CPU.

Note types come from devices (sync stores them without reading their templates), so
these tests store them as a sync would. Adding or editing notes of such a note type
either succeeds quickly or answers 400 with a message naming the limit, and a 400
changes nothing. Before templates were read in one pass, 4 notes of a note type with a
400 KB front of `<!--` took 99.5 s, and 5000 nested sections answered 500.
"""

from __future__ import annotations

import copy
import itertools
import json
import time
from typing import Any

import pytest

from domain.api.template_parse import MAX_SECTION_DEPTH
from domain.api.templates import MAX_CHECKS, MAX_TAGS_READ
from domain.model import JsonObject, ObjectKind, UserId
from tests.api.conftest import User

KB400 = 400_000
GENEROUS_S = 20.0  # these requests take well under a second on every backend
_IDS = itertools.count(1)


def install(user: User, stock: dict[str, dict[str, Any]], *fronts: str) -> int:
    """Store a copy of "Basic (and reversed card)" (fields Front, Back) with these card
    fronts, as a device's sync would; returns its id."""
    notetype = copy.deepcopy(stock["Basic (and reversed card)"])
    template = notetype["tmpls"][0]
    notetype["tmpls"] = [{**template, "name": f"Card {i + 1}", "ord": i, "qfmt": front}
                         for i, front in enumerate(fronts)]
    notetype["id"] -= 1000 * next(_IDS) + 500  # clear of the stock note types' ids
    notetype["name"] = f"Hostile {notetype['id']}"
    user.install_notetypes({notetype["name"]: notetype})
    return int(notetype["id"])


def replace_notetype(user: User, notetype: dict[str, Any]) -> None:
    """Overwrite a stored note type, as a device's sync of a change to it would."""
    with user.api.services.api.uow() as uow:
        stored = JsonObject(id=int(notetype["id"]), name=notetype["name"],
                            mtime=int(notetype["mod"]), usn=0,
                            json=json.dumps(notetype, separators=(",", ":")))
        uow.collections.save_objects(UserId(user.id), ObjectKind.NOTETYPE, [], [stored])
        uow.commit()


def new_note(notetype_id: int, front: str = "f", back: str = "b") -> dict[str, Any]:
    return {"notetype_id": notetype_id, "fields": {"Front": front, "Back": back}}


def timed(call: Any) -> Any:
    start = time.monotonic()
    result = call()
    assert time.monotonic() - start < GENEROUS_S
    return result


def nested(depth: int) -> str:
    return "{{#Front}}" * depth + "{{Front}}" + "{{/Front}}" * depth


def state(user: User) -> tuple[Any, ...]:
    """What a refused request must leave as it was."""
    meta = user.meta()
    return meta.mod, meta.usn, user.ok("GET", "/notes")["notes"], user.stored_cards()


@pytest.mark.parametrize("fronts", [
    ("<!--" * (KB400 // 4) + "{{Front}}", "{{" * (KB400 // 2) + "{{Back}}"),
    ("{{Front}}<!--" * (KB400 // 13), "{{/Front}}" * (KB400 // 10)),
    (nested(MAX_SECTION_DEPTH), "{{=<% %>=}}" * (KB400 // 11) + "<%Back%>"),
])
def test_notes_of_note_types_with_huge_fronts_are_added_and_edited_quickly(
        alice: User, stock_notetypes: dict[str, dict[str, Any]], fronts: tuple[str, str]
) -> None:
    notetype_id = install(alice, stock_notetypes, *fronts)
    nids = timed(lambda: alice.add_notes(*[new_note(notetype_id) for _ in range(4)]))
    assert all(len(alice.cards_of(nid)) >= 1 for nid in nids)
    timed(lambda: alice.ok("PATCH", f"/notes/{nids[0]}", {"fields": {"Back": "edited"}}))


def test_notes_with_hostile_fields_are_added_quickly(alice: User) -> None:
    basic = alice.notetype_id("Basic")
    fields = ("<style>" * (KB400 // 7), "<img " + '"a"' * (KB400 // 3),
              '<img alt="x">' * (KB400 // 13), "<!--" * (KB400 // 4))
    timed(lambda: alice.add_notes(*[new_note(basic, field, field) for field in fields]))


@pytest.mark.parametrize(("front", "message"), [
    (nested(5000), f"template nests sections deeper than {MAX_SECTION_DEPTH}"),
    ("{{#Front}}" * 5000, f"template nests sections deeper than {MAX_SECTION_DEPTH}"),
    ("{{Front}}" * (MAX_TAGS_READ + 1), f"more than {MAX_TAGS_READ} tags"),
])
def test_adding_notes_of_a_note_type_beyond_the_limits_is_400_and_changes_nothing(
        alice: User, stock_notetypes: dict[str, dict[str, Any]], front: str, message: str
) -> None:
    hostile = install(alice, stock_notetypes, "{{Front}}", front)
    alice.add_basic("before")
    before = state(alice)
    batch = [new_note(alice.notetype_id("Basic")), new_note(hostile)]
    result = timed(lambda: alice.post("/notes", {"notes": batch}))
    assert result.status_code == 400, result.text
    assert message in result.json["description"]
    assert state(alice) == before


def test_editing_a_note_whose_note_type_became_too_deep_is_400_and_changes_nothing(
        alice: User, stock_notetypes: dict[str, dict[str, Any]]) -> None:
    notetype_id = install(alice, stock_notetypes, "{{Front}}", "{{Back}}")
    [nid] = alice.add_notes(new_note(notetype_id, back=""))
    notetype = alice.ok("GET", f"/notetypes/{notetype_id}")
    notetype["tmpls"][1]["qfmt"] = nested(5000)
    notetype["mod"] += 1
    replace_notetype(alice, notetype)
    before = state(alice)
    result = timed(lambda: alice.patch(f"/notes/{nid}", {"fields": {"Back": "now filled"}}))
    assert result.status_code == 400, result.text
    assert f"deeper than {MAX_SECTION_DEPTH}" in result.json["description"]
    assert state(alice) == before


def test_a_batch_beyond_the_template_work_limit_is_400_and_a_smaller_one_passes(
        alice: User, stock_notetypes: dict[str, dict[str, Any]]) -> None:
    # Each note checks 1001 field references and the front itself: 1002 checks, so a
    # full batch of 1000 notes goes just past the limit.
    front = "".join(f"{{{{F{i}}}}}" for i in range(1000)) + "{{Front}}"
    notetype_id = install(alice, stock_notetypes, front)
    batch = [new_note(notetype_id)] * 1000
    assert len(batch) * 1002 > MAX_CHECKS >= len(batch) // 2 * 1002
    before = state(alice)
    result = timed(lambda: alice.post("/notes", {"notes": batch}))
    assert result.status_code == 400, result.text
    assert f"more than {MAX_CHECKS} checks" in result.json["description"]
    assert "send fewer notes per request" in result.json["description"]
    assert state(alice) == before
    timed(lambda: alice.add_notes(*batch[: len(batch) // 2]))
