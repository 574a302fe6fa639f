"""Which cards a note gets, decided as Anki's card generation decides it.

A standard note type gets a card for each template whose front renders non-empty
(rslib template.rs `renders_with_fields`): a field reference counts when the field is
filled, inside `{{#F}}...{{/F}}` only when F is filled and inside `{{^F}}...{{/F}}`
only when F is empty. A front whose sections do not nest makes no card. A cloze note
type gets one card per cloze number in any of its fields (rslib cloze.rs).

Note types come from devices, so their templates are untrusted: reading them is
linear in their size, and `CardGen` bounds the template work of one request.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from typing import Any

from domain.api.template_parse import Section, TemplateError, parse

CLOZE_TYPE = 1
MAX_CLOZE_ORD = 499  # Anki's limit: higher cloze numbers share the last card
MAX_OPEN_CLOZES = 10
# The template work of one request (see CardGen), each about half a second of CPU at
# most. Real note types have tens of tags in their fronts, so even 1000 notes of a few
# note types stay far below both.
MAX_TAGS_READ = 200_000
MAX_CHECKS = 1_000_000
# Filled at render time, so they count as non-empty unless a field has the name; the
# front has no FrontSide, and Tags is filled only when the note has tags.
SPECIAL_FIELDS = ("Card", "CardFlag", "CardID", "Deck", "Subdeck", "Tags", "Type")
# Anki's "empty field": nothing but ASCII whitespace and empty <br>/<div> tags.
_EMPTY_FIELD = re.compile(r"(?:[ \t\n\x0b\x0c\r]|</?(?:br|div) ?/?>)*", re.IGNORECASE)
_CLOZE_TOKEN = re.compile(r"{{c([0-9,]*)::|}}")

__all__ = ["CardGen", "TemplateError", "card_ords", "cloze_numbers", "front_renders",
           "nonempty_fields"]


def field_is_empty(text: str) -> bool:
    return _EMPTY_FIELD.fullmatch(text) is not None


class CardGen:
    """Decides the cards of the notes of one request.

    Each distinct front is parsed once per request, which reads each of its tags once;
    deciding one note's cards then checks each field reference and section of the note
    type's fronts at most once. A request may read `MAX_TAGS_READ` tags and make
    `MAX_CHECKS` checks, so a note type with huge fronts cannot keep a worker busy for
    minutes."""

    def __init__(self, max_tags: int = MAX_TAGS_READ, max_checks: int = MAX_CHECKS) -> None:
        self._max_tags, self._max_checks = max_tags, max_checks
        self._tags = self._checks = 0
        self._fronts: dict[str, Section | None] = {}

    def card_ords(self, notetype: dict[str, Any], fields: dict[str, str],
                  tags: Sequence[str] = (), ensure_one: bool = True) -> list[int]:
        """The template ordinals of the cards a note with these fields and tags should
        have. A cloze note without cloze numbers gets card 0 when `ensure_one` is set
        (a note that has no cards yet), as in Anki.

        Raises:
            TemplateError: a front nests sections too deeply, or the request has used
                up its template work.
        """
        if notetype.get("type") == CLOZE_TYPE:
            ords = sorted({min(n - 1, MAX_CLOZE_ORD) for text in fields.values()
                           for n in cloze_numbers(text)})
            return ords if ords or not ensure_one else [0]
        fronts = [(int(t.get("ord", i)), self._front(str(t.get("qfmt", ""))))
                  for i, t in enumerate(notetype.get("tmpls", []))]
        self._checks += sum(1 + tree.weight for _, tree in fronts if tree is not None)
        if self._checks > self._max_checks:
            raise TemplateError(
                f"deciding these notes' cards takes more than {self._max_checks} checks of"
                " template fields and sections: send fewer notes per request")
        nonempty = frozenset(nonempty_fields(fields, tags))
        return [ord_ for ord_, tree in fronts if tree is not None and tree.shows(nonempty)]

    def _front(self, qfmt: str) -> Section | None:
        if qfmt not in self._fronts:
            parsed = parse(qfmt, self._max_tags - self._tags)
            self._tags += parsed.tags
            if self._tags > self._max_tags:
                raise TemplateError(
                    f"the note types' front templates have more than {self._max_tags} tags"
                    " to read in one request: send fewer note types per request, or"
                    " simplify their front templates")
            self._fronts[qfmt] = parsed.tree
        return self._fronts[qfmt]


def card_ords(notetype: dict[str, Any], fields: dict[str, str], tags: Sequence[str] = (),
              ensure_one: bool = True) -> list[int]:
    """`CardGen.card_ords` for a request that decides the cards of one note."""
    return CardGen().card_ords(notetype, fields, tags, ensure_one)


def front_renders(qfmt: str, nonempty: Collection[str]) -> bool:
    """Whether a card with this front shows something, given the non-empty field names.

    Raises:
        TemplateError: the front nests sections too deeply.
    """
    tree = parse(qfmt).tree
    return tree is not None and tree.shows(frozenset(nonempty))


def nonempty_fields(fields: dict[str, str], tags: Sequence[str]) -> set[str]:
    filled = {name for name, text in fields.items() if not field_is_empty(text)}
    return filled | {name for name in SPECIAL_FIELDS
                     if name not in fields and (name != "Tags" or tags)}


def _u16(digits: str) -> int | None:
    """The number, if Anki can read it as a cloze number (a 16-bit unsigned integer)."""
    digits = digits.lstrip("0") or ("0" if digits else "")
    return int(digits) if digits and len(digits) <= 5 and int(digits) < 2**16 else None


def cloze_numbers(text: str) -> set[int]:
    """The cloze numbers of one field: those of closed `{{cN::...}}` (`{{c1,2::...}}` has
    two), nested up to 10 deep. An unclosed cloze and c0 count for nothing.

    One pass over the text: each token is read once, and a number moves up at most
    `MAX_OPEN_CLOZES` levels as clozes close."""
    closed: set[int] = set()
    open_clozes: list[set[int]] = []
    for token in _CLOZE_TOKEN.finditer(text):
        if token.group(0) == "}}":
            if open_clozes:
                numbers = open_clozes.pop()
                (open_clozes[-1] if open_clozes else closed).update(numbers)
            continue
        numbers = {n for n in map(_u16, token.group(1).split(",")) if n is not None}
        if numbers and len(open_clozes) < MAX_OPEN_CLOZES:
            open_clozes.append(numbers)
    return closed - {0}
