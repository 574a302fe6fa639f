"""Wire shapes of the normal-sync steps (marshmallow), converted to domain values.

Card, note and revlog rows travel as positional arrays in schema-11 column
order; Anki also accepts objects with the column names, and floats for a few
integer columns, so these parsers do too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load

from adapters.http.schemas import INT64 as INT64_RANGE
from adapters.http.schemas import INT64_MAX, INT64_MIN
from domain.model import Card, Note, RevlogEntry
from domain.sync.values import (
    Chunk,
    Graves,
    SanityCounts,
    SanityResult,
    StartRequest,
    UnchunkedChanges,
)

NOTE_COLUMNS = ("id", "guid", "mid", "mod", "usn", "tags", "flds", "sfld", "csum", "flags",
                "data")
CARD_COLUMNS = ("id", "nid", "did", "ord", "mod", "usn", "type", "queue", "due", "ivl",
                "factor", "reps", "lapses", "left", "odue", "odid", "flags", "data")
REVLOG_COLUMNS = ("id", "cid", "usn", "ease", "ivl", "lastIvl", "factor", "time", "type")
# NOTE: Anki's own parser accepts floats in these columns (deserialize_int_from_number).
CARD_FLOAT_OK = {"mod", "due", "ivl", "odue"}
REVLOG_FLOAT_OK = {"ivl", "lastIvl", "factor", "time"}


def _int(value: Any, column: str, float_ok: bool = False) -> int:
    if isinstance(value, bool):
        raise ValidationError(f"{column} must be a number")
    if isinstance(value, int):
        if INT64_MIN <= value <= INT64_MAX:
            return value
        raise ValidationError(f"{column} is out of range")
    if float_ok and isinstance(value, float) and INT64_MIN < value <= INT64_MAX:
        return int(value)
    raise ValidationError(f"{column} must be an integer")


def _str(value: Any, column: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{column} must be a string")
    return value


def _values(value: Any, columns: tuple[str, ...], what: str) -> list[Any]:
    if isinstance(value, Mapping):
        try:
            return [value[c] for c in columns]
        except KeyError as e:
            raise ValidationError(f"{what} lacks {e.args[0]}") from None
    if not isinstance(value, list) or len(value) != len(columns):
        raise ValidationError(f"{what} must be an array of {len(columns)} values")
    return value


def parse_note(value: Any) -> Note:
    v = _values(value, NOTE_COLUMNS, "note")
    # sfld and csum arrive empty (or stale); the server recomputes both.
    return Note(id=_int(v[0], "id"), guid=_str(v[1], "guid"), mid=_int(v[2], "mid"),
                mod=_int(v[3], "mod"), usn=_int(v[4], "usn"), tags=_str(v[5], "tags"),
                flds=_str(v[6], "flds"), sfld="", csum=0, flags=_int(v[9], "flags"),
                data=_str(v[10], "data"))


def parse_card(value: Any) -> Card:
    v = _values(value, CARD_COLUMNS, "card")
    ints = [_int(x, c, c in CARD_FLOAT_OK) for x, c in zip(v[:17], CARD_COLUMNS, strict=False)]
    if not 0 <= ints[6] <= 3:
        raise ValidationError("card type must be 0-3")
    if not -3 <= ints[7] <= 4:
        raise ValidationError("card queue must be -3 to 4")
    return Card(id=ints[0], nid=ints[1], did=ints[2], ord=ints[3], mod=ints[4], usn=ints[5],
                type=ints[6], queue=ints[7], due=ints[8], ivl=ints[9], factor=ints[10],
                reps=ints[11], lapses=ints[12], left=ints[13], odue=ints[14], odid=ints[15],
                flags=ints[16], data=_str(v[17], "data"))


def parse_revlog(value: Any) -> RevlogEntry:
    v = _values(value, REVLOG_COLUMNS, "revlog entry")
    i = [_int(x, c, c in REVLOG_FLOAT_OK) for x, c in zip(v, REVLOG_COLUMNS, strict=True)]
    return RevlogEntry(id=i[0], cid=i[1], usn=i[2], ease=i[3], ivl=i[4], last_ivl=i[5],
                       factor=i[6], time=i[7], type=i[8])


class _Rows(fields.Field):  # type: ignore[type-arg]
    """A list of positional rows, parsed by `parser`."""

    def __init__(self, parser: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._parser = parser

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> tuple[Any, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise ValidationError("must be a list")
        return tuple(self._parser(row) for row in value)


class _Ids(fields.Field):  # type: ignore[type-arg]
    """Object ids; NOTE: old AnkiMobile sends grave ids as numeric strings."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> tuple[int, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise ValidationError("must be a list of ids")
        return tuple(_id(v) for v in value)


def _id(value: Any) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdecimal() and value.isascii():
        return _int(int(value), "id")
    return _int(value, "id")


class _Lenient(Schema):
    class Meta:
        unknown = EXCLUDE


class GravesSchema(_Lenient):
    cards = _Ids(load_default=())
    notes = _Ids(load_default=())
    decks = _Ids(load_default=())

    @post_load
    def to_domain(self, data: dict[str, Any], **_: Any) -> Graves:
        return Graves(**data)


class StartRequestSchema(_Lenient):
    client_usn = fields.Integer(required=True, strict=True, data_key="minUsn", validate=INT64_RANGE)
    local_is_newer = fields.Boolean(required=True, data_key="lnewer")
    # NOTE: AnkiDroid before 2.16 (sync v10) sends its deletions here.
    legacy_graves = fields.Nested(GravesSchema, load_default=None, allow_none=True,
                                  data_key="graves")

    @post_load
    def to_domain(self, data: dict[str, Any], **_: Any) -> StartRequest:
        return StartRequest(**data)


class ApplyGravesSchema(_Lenient):
    chunk = fields.Nested(GravesSchema, required=True)


def _objects(value: Any, what: str) -> tuple[dict[str, Any], ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(
        isinstance(o, dict) and "id" in o for o in value
    ):
        raise ValidationError(f"{what} must be a list of objects with an id")
    for obj in value:
        _id(obj["id"])
    return tuple(value)


class ChangesSchema(_Lenient):
    models = fields.Raw(load_default=None)
    decks = fields.Raw(load_default=None)
    tags = fields.List(fields.String(), load_default=list)
    conf = fields.Dict(load_default=None, allow_none=True)
    crt = fields.Integer(load_default=None, allow_none=True, strict=True, validate=INT64_RANGE)

    @post_load
    def to_domain(self, data: dict[str, Any], **_: Any) -> UnchunkedChanges:
        decks = data["decks"] or [[], []]
        if not isinstance(decks, list) or len(decks) != 2:
            raise ValidationError("decks must be [decks, deck configs]")
        return UnchunkedChanges(
            notetypes=_objects(data["models"], "models"),
            decks=_objects(decks[0], "decks"),
            deck_configs=_objects(decks[1], "deck configs"),
            tags=tuple(data["tags"]),
            config=data["conf"],
            crt=data["crt"],
        )


class ApplyChangesSchema(_Lenient):
    changes = fields.Nested(ChangesSchema, required=True)


class ChunkSchema(_Lenient):
    done = fields.Boolean(load_default=False)
    revlog = _Rows(parse_revlog, load_default=())
    cards = _Rows(parse_card, load_default=())
    notes = _Rows(parse_note, load_default=())

    @post_load
    def to_domain(self, data: dict[str, Any], **_: Any) -> Chunk:
        return Chunk(**data)


class ApplyChunkSchema(_Lenient):
    chunk = fields.Nested(ChunkSchema, required=True)


class SanityRequestSchema(_Lenient):
    client = fields.Raw(required=True)


    @post_load
    def to_domain(self, data: dict[str, Any], **_: Any) -> SanityCounts:
        return parse_counts(data["client"])


def parse_counts(value: Any) -> SanityCounts:
    if not isinstance(value, list) or len(value) != 8:
        raise ValidationError("client counts must be an array of 8 values")
    due = value[0]
    if not isinstance(due, list) or len(due) != 3:
        raise ValidationError("due counts must be [new, learn, review]")
    d = tuple(_int(x, "due count") for x in due)
    n = [_int(x, "count") for x in value[1:]]
    return SanityCounts((d[0], d[1], d[2]), *n)


# -- responses -------------------------------------------------------------------------


def dump_graves(graves: Graves) -> dict[str, Any]:
    return {"cards": list(graves.cards), "notes": list(graves.notes),
            "decks": list(graves.decks)}


def dump_changes(changes: UnchunkedChanges) -> dict[str, Any]:
    out: dict[str, Any] = {
        "models": list(changes.notetypes),
        "decks": [list(changes.decks), list(changes.deck_configs)],
        "tags": list(changes.tags),
    }
    if changes.config is not None:
        out["conf"] = changes.config
    if changes.crt is not None:
        out["crt"] = changes.crt
    return out


def dump_chunk(chunk: Chunk) -> dict[str, Any]:
    out: dict[str, Any] = {"done": chunk.done}
    if chunk.revlog:
        out["revlog"] = [[e.id, e.cid, e.usn, e.ease, e.ivl, e.last_ivl, e.factor, e.time,
                          e.type] for e in chunk.revlog]
    if chunk.cards:
        out["cards"] = [[c.id, c.nid, c.did, c.ord, c.mod, c.usn, c.type, c.queue, c.due,
                         c.ivl, c.factor, c.reps, c.lapses, c.left, c.odue, c.odid, c.flags,
                         c.data] for c in chunk.cards]
    if chunk.notes:
        # NOTE: like Anki, sfld and csum travel empty; the receiver recomputes them.
        out["notes"] = [[n.id, n.guid, n.mid, n.mod, n.usn, n.tags, n.flds, "", "", n.flags,
                         n.data] for n in chunk.notes]
    return out


def _counts(c: SanityCounts) -> list[Any]:
    return [list(c.due), c.cards, c.notes, c.revlog, c.graves, c.notetypes, c.decks,
            c.deck_configs]


def dump_sanity(result: SanityResult) -> dict[str, Any]:
    return {"status": "ok" if result.ok else "bad", "c": _counts(result.client),
            "s": None if result.server is None else _counts(result.server)}
