"""JSON API payloads (marshmallow). The OpenAPI description is generated from these."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from adapters.http.schemas import INT64

MAX_PAGE = 1000
MAX_BATCH = 1000


class Strict(Schema):
    class Meta:
        unknown = RAISE


class TokenRequest(Strict):
    username = fields.String(required=True, validate=validate.Length(min=1, max=255))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))
    label = fields.String(load_default="API token", validate=validate.Length(min=1, max=100),
                          metadata={"description": "a name for the token, shown on the"
                                    " account page"})


class TokenResponse(Schema):
    token = fields.String(required=True)


class NoteIn(Strict):
    notetype_id = fields.Integer(required=True, strict=True, validate=INT64)
    fields_ = fields.Dict(keys=fields.String(validate=validate.Length(max=1000)),
                          values=fields.String(validate=validate.Length(max=1_000_000)),
                          required=True, data_key="fields")
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=500)),
                       load_default=list, validate=validate.Length(max=200))
    deck_id = fields.Integer(strict=True, load_default=None, allow_none=True, validate=INT64)

    @validates_schema
    def no_spaces_in_tags(self, data: dict[str, Any], **_: Any) -> None:
        if any(any(ch.isspace() for ch in tag) for tag in data.get("tags", [])):
            raise ValidationError("tags cannot contain spaces", "tags")


class NotesIn(Strict):
    notes = fields.List(fields.Nested(NoteIn), required=True,
                        validate=validate.Length(min=1, max=MAX_BATCH))


class NoteUpdate(Strict):
    fields_ = fields.Dict(keys=fields.String(), values=fields.String(
        validate=validate.Length(max=1_000_000)), load_default=None, data_key="fields")
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=500)),
                       load_default=None)

    @validates_schema
    def something(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("fields_") is None and data.get("tags") is None:
            raise ValidationError("give fields, tags or both")
        if any(any(ch.isspace() for ch in tag) for tag in data.get("tags") or []):
            raise ValidationError("tags cannot contain spaces", "tags")


class IdsIn(Strict):
    ids = fields.List(fields.Integer(strict=True, validate=INT64), required=True,
                      validate=validate.Length(min=1, max=MAX_BATCH))


class MoveCardsIn(IdsIn):
    deck_id = fields.Integer(strict=True, required=True, validate=INT64)


class DeckIn(Strict):
    name = fields.String(required=True, validate=validate.Length(min=1, max=1000))


class TagRenameIn(Strict):
    old = fields.String(required=True, validate=validate.Length(min=1, max=500))
    new = fields.String(required=True, validate=validate.Length(min=1, max=500))


class NoteOut(Schema):
    id = fields.Integer()
    guid = fields.String()
    notetype_id = fields.Integer()
    mod = fields.Integer()
    usn = fields.Integer()
    tags = fields.List(fields.String())
    fields_ = fields.List(fields.String(), data_key="fields")
    field_names = fields.Dict(keys=fields.String(), values=fields.String(), data_key="by_name")
    cards = fields.List(fields.Integer())


class CardOut(Schema):
    id = fields.Integer()
    note_id = fields.Integer()
    deck_id = fields.Integer()
    ord = fields.Integer()
    mod = fields.Integer()
    usn = fields.Integer()
    type = fields.Integer()
    queue = fields.Integer()
    due = fields.Integer()
    interval = fields.Integer()
    factor = fields.Integer()
    reps = fields.Integer()
    lapses = fields.Integer()
    left = fields.Integer()
    original_due = fields.Integer()
    original_deck_id = fields.Integer()
    flags = fields.Integer()
    data = fields.String()
    state = fields.String()
    suspended = fields.Boolean()


class RevlogOut(Schema):
    id = fields.Integer()
    card_id = fields.Integer()
    usn = fields.Integer()
    ease = fields.Integer()
    interval = fields.Integer()
    last_interval = fields.Integer()
    factor = fields.Integer()
    time_ms = fields.Integer()
    type = fields.Integer()


class NotesPage(Schema):
    notes = fields.List(fields.Nested(NoteOut))
    next_after = fields.Integer(allow_none=True)


class CardsPage(Schema):
    cards = fields.List(fields.Nested(CardOut))
    next_after = fields.Integer(allow_none=True)


class RevlogPage(Schema):
    revlog = fields.List(fields.Nested(RevlogOut))
    next_after = fields.Integer(allow_none=True)


class ObjectsOut(Schema):
    items = fields.List(fields.Dict())


class TagsOut(Schema):
    tags = fields.List(fields.String())


class IdsOut(Schema):
    ids = fields.List(fields.Integer())


class CountOut(Schema):
    count = fields.Integer()


class StatsOut(Schema):
    decks = fields.Dict(keys=fields.String(), values=fields.Dict())
    reviews_by_day = fields.List(fields.List(fields.Integer()))


class ErrorOut(Schema):
    title = fields.String()
    description = fields.String()


class PageQuery(Strict):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=MAX_PAGE))
    after = fields.Integer(load_default=None, allow_none=True, validate=INT64)


class NoteQuery(PageQuery):
    ids = fields.String(load_default=None, validate=validate.Regexp(r"^-?\d+(,-?\d+)*$"))
    deck_id = fields.Integer(load_default=None, validate=INT64)
    tag = fields.String(load_default=None, validate=validate.Length(min=1, max=500))
    notetype_id = fields.Integer(load_default=None, validate=INT64)
    q = fields.String(load_default=None, validate=validate.Length(min=1, max=500))


class CardQuery(PageQuery):
    note_id = fields.Integer(load_default=None, validate=INT64)
    deck_id = fields.Integer(load_default=None, validate=INT64)


class RevlogQuery(PageQuery):
    card_id = fields.Integer(load_default=None, validate=INT64)


class StatsQuery(Strict):
    days = fields.Integer(load_default=30, validate=validate.Range(min=1, max=3650))
