"""One search term with a colon (`deck:x`, `prop:ivl>3`...) turned into a leaf node.

The key is matched ignoring ASCII case, as Anki does; an unknown key is a field name.
Values are checked with Anki's rules, so a term is valid here exactly when it is in
Anki, except the kinds the server refuses (REFUSED below), which raise SearchError.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from domain.search import nodes as n
from domain.search.errors import SearchError
from domain.search.escapes import unescape, unescape_quotes
from domain.search.numbers import f32_as_u32, parse_f32, parse_signed, parse_unsigned, to_f32

REFUSED = {
    "did": "did: is not supported: search decks by name with deck:",
    "dupe": "dupe: is not supported",
    "has-cd": "has-cd: (custom scheduling data) is not supported",
    "preset": "preset: (deck options presets) is not supported",
}
_ID_LIST = re.compile(r"(?:[0-9]+,)*[0-9]+")
_STATES = {state.value: state for state in n.CardState}
_PROPERTIES = ("ivl", "due", "reps", "lapses", "ease", "pos", "rated", "resched", "s", "d", "r")
_OPERATORS = ("<=", ">=", "!=", "=", "<", ">")


def leaf_for(key: str, value: str) -> n.Node:
    """The leaf for `key:value`, both still holding the user's escapes."""
    lowered = key.lower() if key.isascii() else key
    if lowered in REFUSED:
        raise SearchError(REFUSED[lowered])
    handler = _HANDLERS.get(lowered)
    if handler is not None:
        return handler(value)
    return _field(key, value)


def _deck(value: str) -> n.Node:
    name = unescape(value)
    if name == "current":
        raise SearchError("deck:current is not supported: the server has no current deck")
    return n.Deck(name)


def _tag(value: str) -> n.Node:
    if value.startswith("re:"):
        return n.Tag(unescape_quotes(value[3:]), n.FieldMode.REGEX)
    if value.startswith("nc:"):
        return n.Tag(unescape(value[3:]), n.FieldMode.NO_COMBINING)
    return n.Tag(unescape(value))


def _card(value: str) -> n.Node:
    number = parse_unsigned(value, 16)
    if number is None:
        return n.TemplateName(unescape(value))
    return n.TemplateNumber(max(number, 1) - 1)


def _flag(value: str) -> n.Node:
    flag = parse_unsigned(value, 8)
    if flag is None or flag > 7:
        raise SearchError(f"flag:{value} is invalid: flags are 0 to 7")
    return n.Flag(flag)


def _days(key: str, value: str, least: int = 1) -> int:
    days = parse_unsigned(value, 32)
    if days is None:
        raise SearchError(f"{key}:{value} is invalid: expected a whole number of days, 0 or more")
    return max(days, least)


def _rated(value: str) -> n.Node:
    days, colon, button = value.partition(":")
    ago = _days("rated", days)
    return n.Rated(">", -ago, _button("rated:" + value, button) if colon else n.ANY_BUTTON)


def _button(term: str, text: str) -> int:
    button = parse_unsigned(text, 8)
    if button is None or not 1 <= button <= 4:
        raise SearchError(f"{term} is invalid: answer buttons are 1 to 4")
    return button


def _state(value: str) -> n.Node:
    if value not in _STATES:
        known = ", ".join(f"is:{name}" for name in _STATES)
        raise SearchError(f"is:{value} is not a card state: use one of {known}")
    return n.State(_STATES[value])


def _ids(key: str, value: str) -> frozenset[int]:
    if not _ID_LIST.fullmatch(value):
        raise SearchError(f"{key}:{value} is invalid: expected ids separated by commas")
    return frozenset(int(part) for part in value.split(","))


def _notetype_id(value: str) -> n.Node:
    ntid = parse_signed(value, 64)
    if ntid is None:
        raise SearchError(f"mid:{value} is invalid: expected a whole number")
    return n.NotetypeId(ntid)


def _field(key: str, value: str) -> n.Node:
    field = unescape(key)
    if value.startswith("re:"):
        return n.FieldText(field, unescape_quotes(value[3:]), n.FieldMode.REGEX)
    if value.startswith("nc:"):
        return n.FieldText(field, unescape_quotes(value[3:]), n.FieldMode.NO_COMBINING)
    return n.FieldText(field, unescape(value))


def _property(clause: str) -> n.Node:
    name = next((p for p in _PROPERTIES if clause.startswith(p)), None)
    if name is None:
        if clause.startswith(("cdn:", "cds:")):
            raise SearchError("prop:cdn and prop:cds (custom scheduling data) are not supported")
        raise SearchError(f"prop:{clause} is invalid: unknown property")
    rest = clause[len(name) :]
    op = next((o for o in _OPERATORS if rest.startswith(o)), None)
    if op is None:
        raise SearchError(f"prop:{clause} is invalid: expected <, <=, =, !=, >= or > after {name}")
    if name in ("s", "d", "r"):
        raise SearchError(f"prop:{name} (FSRS memory state) is not supported")
    return _property_value(clause, name, op, rest[len(op) :])


def _property_value(clause: str, name: str, op: str, text: str) -> n.Node:
    if name == "resched":
        return n.Rated(op, _days_ago(clause, text), n.RESCHEDULED)
    if name == "rated":
        days_text, colon, button_text = text.partition(":")
        days = _days_ago(clause, days_text)
        button = _button(f"prop:{clause}", button_text) if colon else n.ANY_BUTTON
        return n.Rated(op, days, button)
    if name == "ease":
        ease = parse_f32(text)
        if ease is None:
            raise SearchError(f"prop:{clause} is invalid: expected a number")
        return n.Property(n.CardProperty.EASE, op, f32_as_u32(to_f32(ease * 1000)))
    value = parse_signed(text, 32) if name == "due" else parse_unsigned(text, 32)
    if value is None:
        kind = "a whole number" if name == "due" else "a whole number, 0 or more"
        raise SearchError(f"prop:{clause} is invalid: expected {kind}")
    return n.Property(n.CardProperty(name), op, value)


def _days_ago(clause: str, text: str) -> int:
    days = parse_signed(text, 32)
    if days is None or days > 0:
        raise SearchError(f"prop:{clause} is invalid: expected a whole number, 0 or less")
    return days


_HANDLERS: dict[str, Callable[[str], n.Node]] = {
    "deck": _deck,
    "note": lambda v: n.NotetypeName(unescape(v)),
    "tag": _tag,
    "card": _card,
    "flag": _flag,
    "resched": lambda v: n.Rated(">", -_days("resched", v, least=0), n.RESCHEDULED),
    "prop": _property,
    "added": lambda v: n.Within(n.Recency.ADDED, _days("added", v)),
    "edited": lambda v: n.Within(n.Recency.EDITED, _days("edited", v)),
    "introduced": lambda v: n.Within(n.Recency.INTRODUCED, _days("introduced", v)),
    "rated": _rated,
    "is": _state,
    "mid": _notetype_id,
    "nid": lambda v: n.NoteIds(_ids("nid", v)),
    "cid": lambda v: n.CardIds(_ids("cid", v)),
    "re": lambda v: n.Regex(unescape_quotes(v)),
    "nc": lambda v: n.Text(unescape(v), n.TextMode.NO_COMBINING),
    "sc": lambda v: n.And((n.ClozeNotes(), n.Text(unescape(v), n.TextMode.STRIP_CLOZES))),
    "w": lambda v: n.WordText(unescape(v)),
}
