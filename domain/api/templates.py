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


def front_fields(qfmt: str) -> set[str]:
    """Fields whose content can make the front non-empty (not those only in {{^...}})."""
    names: set[str] = set()
    negated: list[str] = []
    for kind, body in _REFERENCE.findall(qfmt):
        name = _field_name(body)
        if kind == "^":
            negated.append(name)
        elif kind == "/":
            if negated and negated[-1] == name:
                negated.pop()
        elif kind == "" and not negated and name not in SPECIAL:
            names.add(name)
    return names


def cloze_sources(qfmt: str) -> set[str]:
    return {_field_name(body) for kind, body in _REFERENCE.findall(qfmt)
            if kind == "" and body.strip().lower().startswith("cloze:")}


def card_ords(notetype: dict[str, Any], fields: dict[str, str]) -> list[int]:
    """The template ordinals of the cards a note with these fields should have."""
    templates = notetype.get("tmpls", [])
    if notetype.get("type") == CLOZE_TYPE:
        sources = cloze_sources(templates[0]["qfmt"]) if templates else set()
        numbers = {int(n) for name in sources for n in _CLOZE_NUMBER.findall(fields.get(name, ""))}
        return sorted(n - 1 for n in numbers if n >= 1) or [0]
    ords = [int(t.get("ord", i)) for i, t in enumerate(templates)
            if any(fields.get(name, "").strip() for name in front_fields(t.get("qfmt", "")))]
    return ords
