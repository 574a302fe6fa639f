"""Which cards a note gets, compared with Anki itself (the `anki` package).

The same note types, fields and tags go into a real Anki collection and, in one batch,
through POST /api/v1/notes; each note must get the same card ordinals both ways.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from anki.collection import Collection

from tests.api.conftest import User, with_past_id

FRONTS = (
    "{{Front}}",  # Front is always filled, so Anki never has to add a blank card 0
    "{{#Extra}}{{Back}}{{/Extra}}",
    "{{^Extra}}{{Back}}{{/Extra}}",
    "{{#Tags}}{{Back}}{{/Tags}}",
    "{{#Deck}}{{Back}}{{/Deck}}",
    "{{^Card}}{{Front}}{{/Card}}",
    "<!-- {{Back}} -->{{#Extra}}shown{{/Extra}}",
    "{{text:Extra}}",
    "{{ Extra }}",
    "{{#Extra}}{{#Back}}{{Front}}{{/Back}}{{/Extra}}",
    "{{=<% %>=}}<%Back%>",
)
BLANKS = ("", "x", "<br>", "<div> </div>", "&nbsp;")
CLOZE_TEXTS = (
    "{{c1::a}} {{c3::b}}", "{{C1::upper}}", "{{c2,4::two}}", "{{c1::open", "no cloze",
    "{{c3::outer {{c1::inner}} }}", "{{c0::zero}}", "{{c1::hint::h}} }} {{c2::x}}",
)


@pytest.fixture(scope="module")
def anki() -> Iterator[Collection]:
    with tempfile.TemporaryDirectory() as tmp:
        col = Collection(str(Path(tmp) / "cardgen.anki2"))
        try:
            yield col
        finally:
            col.close()


def conditions_notetype(col: Collection) -> dict[str, Any]:
    models = col.models
    notetype = models.new("Conditions")
    for name in ("Front", "Back", "Extra"):
        models.add_field(notetype, models.new_field(name))
    for i, front in enumerate(FRONTS):
        template = models.new_template(f"Card {i + 1}")
        template["qfmt"], template["afmt"] = front, "{{FrontSide}}"
        models.add_template(notetype, template)
    models.add(notetype)
    return dict(models.by_name("Conditions") or {})


def install(user: User, notetype: dict[str, Any]) -> int:
    """Give the user this Anki note type; returns its id in the user's collection."""
    notetype = with_past_id(notetype)
    user.install_notetypes({notetype["name"]: notetype})
    return int(notetype["id"])


def anki_ords(col: Collection, notetype: dict[str, Any], fields: dict[str, str],
              tags: Sequence[str]) -> list[int]:
    note = col.new_note(notetype)
    for name, text in fields.items():
        note[name] = text
    note.tags = list(tags)
    col.add_note(note, 1)
    return sorted(card.ord for card in note.cards())


def api_ords(user: User, notetype_id: int, cases: list[tuple[dict[str, str], list[str]]]
             ) -> list[list[int]]:
    ids = user.add_notes(*({"notetype_id": notetype_id, "fields": fields, "tags": tags}
                           for fields, tags in cases))
    return [sorted(c["ord"] for c in user.cards_of(nid)) for nid in ids]


def test_template_conditions_give_the_cards_anki_gives(alice: User, anki: Collection) -> None:
    notetype = conditions_notetype(anki)
    notetype_id = install(alice, notetype)
    cases = [({"Front": "f", "Back": back, "Extra": extra}, tags)
             for back, extra, tags in itertools.product(BLANKS, BLANKS, ([], ["t"]))]
    expected = [anki_ords(anki, notetype, fields, tags) for fields, tags in cases]
    assert api_ords(alice, notetype_id, cases) == expected


def test_cloze_numbers_give_the_cards_anki_gives(alice: User, anki: Collection) -> None:
    cloze = dict(anki.models.by_name("Cloze") or {})
    notetype_id = install(alice, cloze)
    cases = [({"Text": text, "Back Extra": extra}, [])
             for text, extra in itertools.product(CLOZE_TEXTS, ("", "{{c5::extra}}"))]
    expected = [anki_ords(anki, cloze, fields, tags) for fields, tags in cases]
    assert api_ords(alice, notetype_id, cases) == expected
