"""The JSON API under /api/v1/: thin Falcon resources over `CollectionApi`."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import falcon
from marshmallow import Schema

from adapters.http import api_schemas as s
from adapters.http import log_context, metrics, text
from adapters.http.client_address import PEER
from adapters.http.zstd_stream import LimitedReader
from domain.accounts import Accounts, normalise_label
from domain.api.service import CollectionApi, NewNote
from domain.errors import AuthFailed, BadRequest, NotFound, PayloadTooLarge
from domain.model import Card, KeyKind, Note, ObjectKind, RevlogEntry, UserId
from domain.sync.note_text import FIELD_SEPARATOR
from ports.queries import CardFilter, NoteFilter

MAX_API_BODY = 16 * 1024 * 1024
ID = "int(min=-9223372036854775808, max=9223372036854775807)"  # route converter: any int64
STATES = {0: "new", 1: "learning", 2: "review", 3: "relearning"}


def read_json(req: falcon.Request, limit: int = MAX_API_BODY) -> Any:
    """The body as JSON (`{}` if empty), UTF-8 only, holding only text `text.check`
    accepts."""
    data = read_body(req, limit)
    if not data.strip():
        return {}
    try:
        decoded = data.decode("utf-8")
        value = json.loads(decoded)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise BadRequest("request body is not valid JSON") from None
    text.check_json(decoded, value)
    return value


def read_body(req: falcon.Request, limit: int) -> bytes:
    if req.content_length is None:
        # Chunked: no length to bound the read by. The server ends the stream with the
        # body (gunicorn gives an empty one to a request without either header).
        return LimitedReader(req.stream, limit).read(None)
    if req.content_length > limit:
        raise PayloadTooLarge(f"request body exceeds {limit} bytes")
    data: bytes = req.bounded_stream.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"request body exceeds {limit} bytes")
    return data


def load(schema: Schema, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest("expected a JSON object")
    result: dict[str, Any] = schema.load(value)
    return result


def respond(resp: falcon.Response, schema: Schema | None, value: Any,
            status: str = falcon.HTTP_200) -> None:
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.text = json.dumps(schema.dump(value) if schema is not None else value,
                           ensure_ascii=False)


def note_out(note: Note, names: list[str] | None = None, cards: list[int] | None = None
             ) -> dict[str, Any]:
    fields = note.flds.split(FIELD_SEPARATOR)
    out = {"id": note.id, "guid": note.guid, "notetype_id": note.mid, "mod": note.mod,
           "usn": note.usn, "tags": note.tags.split(), "fields_": fields}
    if names is not None:
        out["field_names"] = dict(zip(names, fields, strict=False))
    if cards is not None:
        out["cards"] = cards
    return out


def card_out(c: Card) -> dict[str, Any]:
    return {"id": c.id, "note_id": c.nid, "deck_id": c.did, "ord": c.ord, "mod": c.mod,
            "usn": c.usn, "type": c.type, "queue": c.queue, "due": c.due, "interval": c.ivl,
            "factor": c.factor, "reps": c.reps, "lapses": c.lapses, "left": c.left,
            "original_due": c.odue, "original_deck_id": c.odid, "flags": c.flags,
            "data": c.data, "state": STATES.get(c.type, "unknown"), "suspended": c.queue == -1}


def revlog_out(e: RevlogEntry) -> dict[str, Any]:
    return {"id": e.id, "card_id": e.cid, "usn": e.usn, "ease": e.ease, "interval": e.ivl,
            "last_interval": e.last_ivl, "factor": e.factor, "time_ms": e.time, "type": e.type}


def _parse_ids(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    ids = tuple(int(i) for i in text.split(","))
    if any(not -(2**63) <= i < 2**63 for i in ids):
        raise BadRequest("ids must be 64-bit integers")
    return ids


def _next(items: list[Any], limit: int) -> int | None:
    return items[-1].id if len(items) == limit else None


@dataclass
class Auth:
    accounts: Accounts
    client_address: Callable[[falcon.Request], str] = PEER

    def user(self, req: falcon.Request) -> UserId:
        """Bearer token (from /token) or HTTP Basic; anything else is 401."""
        header = req.get_header("Authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            user = self.accounts.authenticate(value.strip())
            log_context.set_user(user)
            return user
        if scheme.lower() == "basic" and value.strip():
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise AuthFailed("malformed basic credentials") from None
            name, sep, password = decoded.partition(":")
            if not sep:
                raise AuthFailed("malformed basic credentials")
            client = self.client_address(req)
            # Not logged with the name: what people type into a browser's Basic prompt
            # is too often the password.
            user = metrics.counted_login(
                lambda: self.accounts.verify(name, password, client), client=client)
            log_context.set_user(user)
            return user
        raise AuthFailed("missing credentials")

    def token(self, req: falcon.Request) -> str:
        header = req.get_header("Authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthFailed("a bearer token is required")
        self.accounts.authenticate(value.strip())
        return value.strip()


@dataclass
class TokenResource:
    auth: Auth

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        args = load(s.TokenRequest(), read_json(req))
        client = self.auth.client_address(req)
        try:
            label = normalise_label(args["label"])
        except ValueError as e:
            raise BadRequest(str(e)) from None
        key = metrics.counted_login(lambda: self.auth.accounts.login(
            args["username"], args["password"], client, KeyKind.API, label),
            args["username"], client)
        respond(resp, s.TokenResponse(), {"token": key}, falcon.HTTP_201)

    def on_delete(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.auth.accounts.revoke(self.auth.token(req))
        resp.status = falcon.HTTP_204


@dataclass
class ObjectsResource:
    """Read-only listings: deck configs and note types (decks have their own resource)."""

    auth: Auth
    api: CollectionApi
    kind: ObjectKind

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        respond(resp, s.ObjectsOut(), {"items": self.api.objects(self.auth.user(req), self.kind)})

    def on_get_one(self, req: falcon.Request, resp: falcon.Response, oid: int) -> None:
        respond(resp, None, self.api.object(self.auth.user(req), self.kind, oid))


@dataclass
class DecksResource:
    auth: Auth
    api: CollectionApi

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        respond(resp, s.ObjectsOut(),
                {"items": self.api.objects(self.auth.user(req), ObjectKind.DECK)})

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        user = self.auth.user(req)
        args = load(s.DeckIn(), read_json(req))
        did = self.api.add_deck(user, args["name"])
        respond(resp, None, self.api.object(user, ObjectKind.DECK, did), falcon.HTTP_201)

    def on_get_one(self, req: falcon.Request, resp: falcon.Response, oid: int) -> None:
        respond(resp, None, self.api.object(self.auth.user(req), ObjectKind.DECK, oid))

    def on_patch_one(self, req: falcon.Request, resp: falcon.Response, oid: int) -> None:
        user = self.auth.user(req)
        args = load(s.DeckIn(), read_json(req))
        self.api.rename_deck(user, oid, args["name"])
        respond(resp, None, self.api.object(user, ObjectKind.DECK, oid))

    def on_delete_one(self, req: falcon.Request, resp: falcon.Response, oid: int) -> None:
        self.api.delete_deck(self.auth.user(req), oid)
        resp.status = falcon.HTTP_204


@dataclass
class TagsResource:
    auth: Auth
    api: CollectionApi

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        respond(resp, s.TagsOut(), {"tags": self.api.tags(self.auth.user(req))})

    def on_post_rename(self, req: falcon.Request, resp: falcon.Response) -> None:
        user = self.auth.user(req)
        args = load(s.TagRenameIn(), read_json(req))
        count = self.api.rename_tag(user, args["old"], args["new"])
        respond(resp, s.CountOut(), {"count": count})


@dataclass
class NotesResource:
    auth: Auth
    api: CollectionApi

    def _names(self, user: UserId) -> dict[int, list[str]]:
        return {nt["id"]: [f["name"] for f in nt.get("flds", [])]
                for nt in self.api.objects(user, ObjectKind.NOTETYPE)}

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        user = self.auth.user(req)
        q = load(s.NoteQuery(), dict(req.params))
        where = NoteFilter(
            ids=_parse_ids(q["ids"]),
            deck_ids=(q["deck_id"],) if q["deck_id"] is not None else None,
            tag=q["tag"], notetype_id=q["notetype_id"], text=q["q"])
        notes = self.api.notes(user, where, q["after"], q["limit"])
        names = self._names(user)
        respond(resp, s.NotesPage(), {"notes": [note_out(n, names.get(n.mid)) for n in notes],
                                      "next_after": _next(notes, q["limit"])})

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        user = self.auth.user(req)
        args = load(s.NotesIn(), read_json(req))
        new = [NewNote(n["notetype_id"], n["fields_"], tuple(n["tags"]), n["deck_id"])
               for n in args["notes"]]
        respond(resp, s.IdsOut(), {"ids": self.api.add_notes(user, new)}, falcon.HTTP_201)

    def on_get_one(self, req: falcon.Request, resp: falcon.Response, nid: int) -> None:
        user = self.auth.user(req)
        note, cards = self.api.note(user, nid)
        respond(resp, s.NoteOut(), note_out(note, self._names(user).get(note.mid),
                                           [c.id for c in cards]))

    def on_patch_one(self, req: falcon.Request, resp: falcon.Response, nid: int) -> None:
        user = self.auth.user(req)
        args = load(s.NoteUpdate(), read_json(req))
        self.api.update_note(user, nid, args["fields_"], args["tags"])
        self.on_get_one(req, resp, nid)

    def on_delete_one(self, req: falcon.Request, resp: falcon.Response, nid: int) -> None:
        if self.api.delete_notes(self.auth.user(req), [nid]) == 0:
            raise NotFound(f"no note {nid}")
        resp.status = falcon.HTTP_204

    def on_post_delete(self, req: falcon.Request, resp: falcon.Response) -> None:
        user = self.auth.user(req)
        args = load(s.IdsIn(), read_json(req))
        respond(resp, s.CountOut(), {"count": self.api.delete_notes(user, args["ids"])})


@dataclass
class CardsResource:
    auth: Auth
    api: CollectionApi

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        user = self.auth.user(req)
        q = load(s.CardQuery(), dict(req.params))
        where = CardFilter(note_ids=(q["note_id"],) if q["note_id"] is not None else None,
                           deck_ids=(q["deck_id"],) if q["deck_id"] is not None else None)
        cards = self.api.cards(user, where, q["after"], q["limit"])
        respond(resp, s.CardsPage(), {"cards": [card_out(c) for c in cards],
                                      "next_after": _next(cards, q["limit"])})

    def on_get_one(self, req: falcon.Request, resp: falcon.Response, cid: int) -> None:
        respond(resp, s.CardOut(), card_out(self.api.card(self.auth.user(req), cid)))

    def on_post_move(self, req: falcon.Request, resp: falcon.Response) -> None:
        user = self.auth.user(req)
        args = load(s.MoveCardsIn(), read_json(req))
        respond(resp, s.CountOut(),
                {"count": self.api.move_cards(user, args["ids"], args["deck_id"])})

    def _suspend(self, req: falcon.Request, resp: falcon.Response, suspended: bool) -> None:
        user = self.auth.user(req)
        args = load(s.IdsIn(), read_json(req))
        respond(resp, s.CountOut(),
                {"count": self.api.set_suspended(user, args["ids"], suspended)})

    def on_post_suspend(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._suspend(req, resp, True)

    def on_post_unsuspend(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._suspend(req, resp, False)


@dataclass
class RevlogResource:
    auth: Auth
    api: CollectionApi

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        user = self.auth.user(req)
        q = load(s.RevlogQuery(), dict(req.params))
        entries = self.api.revlog(user, q["card_id"], q["after"], q["limit"])
        respond(resp, s.RevlogPage(), {"revlog": [revlog_out(e) for e in entries],
                                       "next_after": _next(entries, q["limit"])})


@dataclass
class StatsResource:
    auth: Auth
    api: CollectionApi

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        user = self.auth.user(req)
        q = load(s.StatsQuery(), dict(req.params))
        stats = self.api.stats(user, q["days"])
        respond(resp, s.StatsOut(), {
            "decks": {str(k): v for k, v in stats.cards_by_deck.items()},
            "reviews_by_day": [list(x) for x in stats.reviews_by_day]})


def add_routes(app: falcon.App[falcon.Request, falcon.Response], auth: Auth,
               api: CollectionApi, openapi: Callable[[], dict[str, Any]]) -> None:
    base = "/api/v1"
    app.add_route(f"{base}/token", TokenResource(auth))
    decks = DecksResource(auth, api)
    app.add_route(f"{base}/decks", decks)
    app.add_route(f"{base}/decks/{{oid:{ID}}}", decks, suffix="one")
    for path, kind in (("deck-configs", ObjectKind.DECK_CONFIG),
                       ("notetypes", ObjectKind.NOTETYPE)):
        objects = ObjectsResource(auth, api, kind)
        app.add_route(f"{base}/{path}", objects)
        app.add_route(f"{base}/{path}/{{oid:{ID}}}", objects, suffix="one")
    tags = TagsResource(auth, api)
    app.add_route(f"{base}/tags", tags)
    app.add_route(f"{base}/tags/rename", tags, suffix="rename")
    notes = NotesResource(auth, api)
    app.add_route(f"{base}/notes", notes)
    app.add_route(f"{base}/notes/delete", notes, suffix="delete")
    app.add_route(f"{base}/notes/{{nid:{ID}}}", notes, suffix="one")
    cards = CardsResource(auth, api)
    app.add_route(f"{base}/cards", cards)
    for action in ("move", "suspend", "unsuspend"):
        app.add_route(f"{base}/cards/{action}", cards, suffix=action)
    app.add_route(f"{base}/cards/{{cid:{ID}}}", cards, suffix="one")
    app.add_route(f"{base}/revlog", RevlogResource(auth, api))
    app.add_route(f"{base}/stats", StatsResource(auth, api))
    app.add_route(f"{base}/openapi.json", OpenApiResource(openapi))


@dataclass
class OpenApiResource:
    build: Callable[[], dict[str, Any]]

    def on_get(self, _req: falcon.Request, resp: falcon.Response) -> None:
        respond(resp, None, self.build())
