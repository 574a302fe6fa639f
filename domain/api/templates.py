"""Which cards a note gets: Anki's rule, simplified to what a template's front needs.

A standard note type makes a card for each template whose front side shows at
least one non-empty field; a cloze note type makes one card per cloze number
(`{{c1::...}}`) in the fields its template uses as cloze sources.
"""

from __future__ import annotations

import re
from typing import Any

CLOZE_TYPE = 1
_REFERENCE = re.compile(r"{{\s*([#^/]?)\s*([^{}]+?)\s*}}")
_CLOZE_NUMBER = re.compile(r"{{c(\d+)::", re.IGNORECASE)
SPECIAL = {"FrontSide", "Tags", "Type", "Deck", "Subdeck", "Card", "CardFlag", "CardID"}


def _field_name(reference: str) -> str:
    return reference.split(":")[-1].strip()


def front_shows_a_field(qfmt: str, fields: dict[str, str]) -> bool:
    """Whether the front shows some non-empty field, honouring {{#F}} and {{^F}} sections
    (a field inside a section counts only when the section is shown)."""
    shown: list[bool] = []
    for kind, body in _REFERENCE.findall(qfmt):
        name = _field_name(body)
        filled = bool(fields.get(name, "").strip())
        if kind == "#":
            shown.append(filled)
        elif kind == "^":
            shown.append(not filled)
        elif kind == "/":
            if shown:
                shown.pop()
        elif all(shown) and name not in SPECIAL and filled:
            return True
    return False


def cloze_sources(qfmt: str) -> set[str]:
    return {_field_name(body) for kind, body in _REFERENCE.findall(qfmt)
            if kind == "" and body.strip().lower().startswith("cloze:")}


def card_ords(notetype: dict[str, Any], fields: dict[str, str],
              ensure_one: bool = True) -> list[int]:
    """The template ordinals of the cards a note with these fields should have.

    A cloze note without cloze numbers gets card 0 when `ensure_one` is set (a note
    that has no cards yet), as in Anki."""
    templates = notetype.get("tmpls", [])
    if notetype.get("type") == CLOZE_TYPE:
        sources = cloze_sources(templates[0]["qfmt"]) if templates else set()
        numbers = {int(n) for name in sources for n in _CLOZE_NUMBER.findall(fields.get(name, ""))}
        ords = sorted(n - 1 for n in numbers if n >= 1)
        return ords if ords or not ensure_one else [0]
    return [int(t.get("ord", i)) for i, t in enumerate(templates)
            if front_shows_a_field(t.get("qfmt", ""), fields)]
