"""Hand-built `CollectionContents` for store tests, and exact comparison of two of them.

`rich_contents` holds the awkward values a real collection has: emoji, the "\\x1f" field
separator, 200 KB fields, negative numbers and 64-bit ids inside JSON text. It holds more
notes, cards and revlog entries than one insert batch of the SQL store.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Any

from domain.errors import UploadRejected
from domain.model import (
    Card,
    CollectionMeta,
    ConfigEntry,
    Grave,
    GraveKind,
    JsonObject,
    Note,
    RevlogEntry,
    Tag,
)
from ports.collection import CollectionContents

BIG_ID = 1795671261130
NEGATIVE_BIG_ID = -446182540200626409
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
BIG_FIELD = 200 * 1024
MANY = 4200  # more than two insert batches of 2000
# NUL and U+E000 too: PostgreSQL text cannot hold NUL, so the adapter escapes it there.
ODD_TEXT = (
    "ünïcödé 漢字 🙂👩‍👩‍👧 \x1f tab\there\r\nline 'quote' \"dq\" \\ %s ? nul\x00"
    " \ue000\ue001\ue002 \ue000 trailing  "
)
SECTIONS = (
    "notetypes", "decks", "deck_configs", "config", "tags", "notes", "cards", "revlog",
    "graves",
)


def unique_name(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


@dataclass(frozen=True)
class ListContents:
    """A collection held in lists; each accessor hands out a fresh lazy iterator."""

    meta_row: CollectionMeta
    notetype_list: tuple[JsonObject, ...] = ()
    deck_list: tuple[JsonObject, ...] = ()
    deck_config_list: tuple[JsonObject, ...] = ()
    config_list: tuple[ConfigEntry, ...] = ()
    tag_list: tuple[Tag, ...] = ()
    note_list: tuple[Note, ...] = ()
    card_list: tuple[Card, ...] = ()
    revlog_list: tuple[RevlogEntry, ...] = ()
    grave_list: tuple[Grave, ...] = ()

    def meta(self) -> CollectionMeta:
        return self.meta_row

    def notetypes(self) -> Iterator[JsonObject]:
        return iter(self.notetype_list)

    def decks(self) -> Iterator[JsonObject]:
        return iter(self.deck_list)

    def deck_configs(self) -> Iterator[JsonObject]:
        return iter(self.deck_config_list)

    def config(self) -> Iterator[ConfigEntry]:
        return iter(self.config_list)

    def tags(self) -> Iterator[Tag]:
        return iter(self.tag_list)

    def notes(self) -> Iterator[Note]:
        return iter(self.note_list)

    def cards(self) -> Iterator[Card]:
        return iter(self.card_list)

    def revlog(self) -> Iterator[RevlogEntry]:
        return iter(self.revlog_list)

    def graves(self) -> Iterator[Grave]:
        return iter(self.grave_list)


@dataclass
class FailingContents:
    """Wraps contents; `notes()` raises `UploadRejected` after `fail_after` notes, as a
    corrupt upload does when a bad row is only found while streaming."""

    inner: ListContents
    fail_after: int
    yielded: int = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def notes(self) -> Iterator[Note]:
        for note in self.inner.notes():
            if self.yielded == self.fail_after:
                raise UploadRejected("corrupt note")
            self.yielded += 1
            yield note


@dataclass
class PausingContents:
    """Wraps contents; `notes()` stops after `pause_after` notes until `resume` is set."""

    inner: ListContents
    pause_after: int
    paused: threading.Event = field(default_factory=threading.Event)
    resume: threading.Event = field(default_factory=threading.Event)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def notes(self) -> Iterator[Note]:
        for i, note in enumerate(self.inner.notes()):
            if i == self.pause_after:
                self.paused.set()
                if not self.resume.wait(30):
                    raise TimeoutError("the test never resumed the upload")
            yield note


def _json_object(kind: str, oid: int, name: str, extra: str = "") -> JsonObject:
    # Hand-written JSON, so the exact text (spacing, key order, 64-bit ints) is checked.
    quoted = json.dumps(name, ensure_ascii=False)  # "\x00" appears as "\u0000", as in Anki
    text = (
        f'{{"id": {oid}, "name": {quoted}, "mod": 1700000000, "usn": -1, "kind": "{kind}",'
        f' "ids": [{BIG_ID}, {NEGATIVE_BIG_ID}], "neg": -5, "f": 1.5e300{extra}}}'
    )
    return JsonObject(id=oid, name=name, mtime=1700000000, usn=-1, json=text)


def _note(i: int, marker: str) -> Note:
    front = f"{marker} front {i} {ODD_TEXT}"
    back = "x" * BIG_FIELD + " 🙂" if i % 1500 == 7 else f"back {i}"
    return Note(
        id=BIG_ID + i, guid=f"g{i}`~!@#$%^&*(){marker}", mid=NEGATIVE_BIG_ID,
        mod=1700000000 + i, usn=-1 if i % 2 else i, tags=f" vocab::日本 tag{i % 7} \x00",
        flds=f"{front}\x1f{back}\x1f", sfld=front, csum=4294967295 - i, flags=i % 8,
        data="" if i % 3 else '{"x": -1}',
    )


def _card(i: int) -> Card:
    return Card(
        id=NEGATIVE_BIG_ID + i, nid=BIG_ID + i, did=INT64_MAX - i % 3, ord=i % 5,
        mod=1700000000 + i, usn=-1, type=i % 4, queue=(i % 7) - 3, due=-100000 - i,
        ivl=-600 if i % 2 else 36500, factor=2500, reps=i, lapses=i % 9, left=1001,
        odue=-i, odid=INT64_MIN + i, flags=i % 8, data="\x00\ue000" if i % 2 else f'{{"pos": {i}}}',
    )


def _revlog(i: int) -> RevlogEntry:
    return RevlogEntry(
        id=BIG_ID * 1000 + i, cid=NEGATIVE_BIG_ID + i, usn=i - MANY, ease=i % 5,
        ivl=-1200 + i, last_ivl=-i, factor=0 if i % 2 else 2500, time=60000 + i, type=i % 5,
    )


def _objects(marker: str) -> dict[str, Any]:
    return {
        "notetype_list": (
            _json_object("nt", BIG_ID, f"Basic {marker} 🙂", ', "css": ".a {}\\n\\u001f"'),
            _json_object("nt", NEGATIVE_BIG_ID, "Cloze\x1f漢字\x00\ue000"),
        ),
        "deck_list": (
            _json_object("deck", 1, "Default"),
            _json_object("deck", BIG_ID, f"Languages::日本語::Kanji {marker}"),
        ),
        "deck_config_list": (_json_object("dconf", 1, "Default 🙂"),),
        "config_list": (
            ConfigEntry(key="curModel", usn=0, mtime=0, json=str(BIG_ID)),
            ConfigEntry(key="activeDecks", usn=-1, mtime=-7, json=f"[1, {NEGATIVE_BIG_ID}]"),
            ConfigEntry(key="schedVer", usn=3, mtime=BIG_ID, json="2"),
            ConfigEntry(key=f"emoji🙂key {marker}", usn=1, mtime=1, json='"\\u001f 🙂 x"'),
            ConfigEntry(key="big", usn=1, mtime=1, json='"' + "y" * BIG_FIELD + '"'),
            ConfigEntry(key="nul\x00\ue000", usn=1, mtime=1, json="null"),
        ),
        "tag_list": (
            Tag(name="vocab::日本", usn=-1, collapsed=True),
            Tag(name=f"🙂{marker}", usn=5, collapsed=False),
            Tag(name="Leech", usn=0),
            Tag(name="nul\x00\ue000\ue002", usn=0),
        ),
    }


@cache
def rich_contents(
    marker: str = "a", count: int = MANY, others: int | None = None, usn: int = 42
) -> ListContents:
    """A collection with `count` notes and `others` (default `count`) cards and revlog
    entries, whose `col` row has this `usn`. Cached: it is immutable."""
    others = count if others is None else others
    return ListContents(
        meta_row=CollectionMeta(
            crt=1699920000, mod=1700000000123, scm=BIG_ID, ver=11, dty=0, usn=usn,
            ls=1700000000000,
        ),
        note_list=tuple(_note(i, marker) for i in range(count)),
        card_list=tuple(_card(i) for i in range(others)),
        revlog_list=tuple(_revlog(i) for i in range(others)),
        grave_list=(
            Grave(oid=BIG_ID, kind=GraveKind.CARD, usn=-1),
            Grave(oid=BIG_ID, kind=GraveKind.NOTE, usn=3),
            Grave(oid=NEGATIVE_BIG_ID, kind=GraveKind.DECK, usn=INT64_MAX),
        ),
        **_objects(marker),
    )


def small_contents(marker: str, count: int = 20) -> ListContents:
    """Like `rich_contents`, with few rows; `marker` makes its text unique."""
    return rich_contents(marker, count)


def many_notes(marker: str, notes: int, usn: int) -> ListContents:
    """`notes` notes but only a few cards and revlog entries; `usn` tells it apart."""
    return rich_contents(marker, notes, 10, usn)


SORT_KEYS: dict[str, Callable[[Any], Any]] = {
    "notetypes": lambda o: o.id,
    "decks": lambda o: o.id,
    "deck_configs": lambda o: o.id,
    "config": lambda c: c.key,
    "tags": lambda t: t.name,
    "notes": lambda n: n.id,
    "cards": lambda c: c.id,
    "revlog": lambda r: r.id,
    "graves": lambda g: (int(g.kind), g.oid),
}


def snapshot(contents: CollectionContents) -> dict[str, Any]:
    """Read every part of `contents` into lists sorted by key (stores may order rows)."""
    result: dict[str, Any] = {"meta": contents.meta()}
    for section in SECTIONS:
        items: Iterable[Any] = getattr(contents, section)()
        result[section] = sorted(items, key=SORT_KEYS[section])
    return result


def assert_identical(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    """Assert two snapshots are equal, value and Python type of every field alike."""
    assert actual.keys() == expected.keys()
    assert actual["meta"] == expected["meta"]
    for section in SECTIONS:
        got, want = actual[section], expected[section]
        assert len(got) == len(want), section
        for a, e in zip(got, want, strict=True):
            if a != e:
                raise AssertionError(f"{section}: {_difference(a, e)}")
            for name in _field_names(e):
                assert type(getattr(a, name)) is type(getattr(e, name)), (section, name)


def _field_names(record: Any) -> list[str]:
    """Field names of a dataclass or a named tuple (notes, cards and revlog are those)."""
    if hasattr(record, "_fields"):
        return list(record._fields)
    return [f.name for f in fields(record)]


def _difference(actual: Any, expected: Any) -> str:
    for name in _field_names(expected):
        a, e = getattr(actual, name), getattr(expected, name)
        if a != e:
            return f"{name}: got {_short(a)}, want {_short(e)}"
    return f"{actual!r} != {expected!r}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 200 else text[:100] + f"...({len(text)} chars)..." + text[-60:]
