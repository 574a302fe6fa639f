"""Which cards a note gets, decided as Anki's card generation decides it.

A standard note type gets a card for each template whose front renders non-empty
(rslib template.rs `renders_with_fields`): a field reference counts when the field is
filled, inside `{{#F}}...{{/F}}` only when F is filled and inside `{{^F}}...{{/F}}`
only when F is empty. A front whose sections do not nest makes no card. A cloze note
type gets one card per cloze number in any of its fields (rslib cloze.rs).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

CLOZE_TYPE = 1
MAX_CLOZE_ORD = 499  # Anki's limit: higher cloze numbers share the last card
MAX_OPEN_CLOZES = 10
# Filled at render time, so they count as non-empty unless a field has the name; the
# front has no FrontSide, and Tags is filled only when the note has tags.
SPECIAL_FIELDS = ("Card", "CardFlag", "CardID", "Deck", "Subdeck", "Tags", "Type")
# Anki's "empty field": nothing but ASCII whitespace and empty <br>/<div> tags.
_EMPTY_FIELD = re.compile(r"(?:[ \t\n\x0b\x0c\r]|</?(?:br|div) ?/?>)*", re.IGNORECASE)
_CLOZE_TOKEN = re.compile(r"{{c([0-9,]*)::|}}")
_ALT_SYNTAX = "{{=<% %>=}}"
_COMMENT = ("<!--", "-->")


@dataclass(frozen=True, slots=True)
class _Node:
    kind: str  # "field", "#" (shown when key is filled) or "^" (shown when it is empty)
    key: str
    children: tuple[_Node, ...] = ()


def field_is_empty(text: str) -> bool:
    return _EMPTY_FIELD.fullmatch(text) is not None


def _handlebars(template: str) -> Iterator[str]:
    """The insides of the template's `{{...}}` tags, in order, skipping HTML comments.

    As in Anki, a template starting with `{{=<% %>=}}` uses `<%...%>` instead."""
    start, end = "{{", "}}"
    if template.lstrip().startswith(_ALT_SYNTAX):
        template, start, end = template.lstrip(), "<%", "%>"
        while template.startswith(_ALT_SYNTAX):
            template = template.removeprefix(_ALT_SYNTAX)
    pos = 0
    while True:
        tag, comment = template.find(start, pos), template.find(_COMMENT[0], pos)
        at = min((i for i in (tag, comment) if i >= 0), default=-1)
        if at < 0:
            return
        if at == tag and (close := template.find(end, at + len(start))) >= 0:
            yield template[at + len(start):close]
            pos = close + len(end)
        elif at == comment and (close := template.find(_COMMENT[1], at + 4)) >= 0:
            pos = close + len(_COMMENT[1])
        else:
            pos = at + 1  # not a tag after all: Anki reads it as text


def _classify(inside: str) -> tuple[str, str]:
    """(kind, key) of one tag: "#", "^" or "/" with the section's key, or "field" with
    the field name after the last filter (`{{text:Front}}` refers to Front)."""
    handle = inside.lstrip("{").strip()
    if len(handle.encode()) >= 2 and handle[0] in "#^/":
        return handle[0], handle[1:].lstrip()
    return "field", handle.rsplit(":", 1)[-1]


def _parse(template: str) -> tuple[_Node, ...] | None:
    """The template's tree, or None when a section is left open or closed out of order
    (Anki cannot render such a template, so it generates no card from it)."""
    open_sections: list[tuple[str, str, list[_Node]]] = []
    nodes: list[_Node] = []
    for kind, key in map(_classify, _handlebars(template)):
        if kind in ("#", "^"):
            open_sections.append((kind, key, nodes))
            nodes = []
        elif kind == "/":
            if not open_sections or open_sections[-1][1] != key:
                return None
            section, name, parent = open_sections.pop()
            parent.append(_Node(section, name, tuple(nodes)))
            nodes = parent
        else:
            nodes.append(_Node(kind, key))
    return None if open_sections else tuple(nodes)


def _renders(nodes: Sequence[_Node], nonempty: Collection[str]) -> bool:
    for node in nodes:
        if node.kind == "field":
            if node.key in nonempty:
                return True
        elif (node.key in nonempty) == (node.kind == "#") and _renders(node.children, nonempty):
            return True
    return False


def front_renders(qfmt: str, nonempty: Collection[str]) -> bool:
    """Whether a card with this front shows something, given the non-empty field names."""
    nodes = _parse(qfmt)
    return nodes is not None and _renders(nodes, nonempty)


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
    two), nested up to 10 deep. An unclosed cloze and c0 count for nothing."""
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


def card_ords(notetype: dict[str, Any], fields: dict[str, str], tags: Sequence[str] = (),
              ensure_one: bool = True) -> list[int]:
    """The template ordinals of the cards a note with these fields and tags should have.

    A cloze note without cloze numbers gets card 0 when `ensure_one` is set (a note
    that has no cards yet), as in Anki."""
    if notetype.get("type") == CLOZE_TYPE:
        ords = sorted({min(n - 1, MAX_CLOZE_ORD) for text in fields.values()
                       for n in cloze_numbers(text)})
        return ords if ords or not ensure_one else [0]
    nonempty = nonempty_fields(fields, tags)
    return [int(t.get("ord", i)) for i, t in enumerate(notetype.get("tmpls", []))
            if front_renders(str(t.get("qfmt", "")), nonempty)]
