"""Viewing, editing, adding and deleting notes in the browser, through the same domain
service as the JSON API: every change reaches devices on their next normal sync, and none
is written while a device is in the middle of a sync (the page says so and keeps the
edit)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import falcon

from adapters.web.field_html import shown_field
from adapters.web.forms import WebResource, field, posted_form
from adapters.web.media_files import send_media
from adapters.web.session import CSRF_FIELD, Visitor
from domain.api.service import (
    CollectionApi,
    EditConflict,
    NewNote,
    SyncInProgress,
    note_version,
    split_tags,
)
from domain.errors import NotFound, SyncRejected
from domain.media_server import MediaServer
from domain.model import Card, Note, ObjectKind, UserId
from domain.sync.note_text import FIELD_SEPARATOR
from ports.media import BlobStore

MAX_NOTE_FIELD = 1_000_000  # characters; Anki itself warns long before
BUSY = ("One of your devices is syncing right now, so nothing was saved. Wait a moment"
        " and save again: your changes are still in the form.")
QUEUES = {0: "new", 1: "learning", 2: "review", 3: "learning", 4: "learning",
          -1: "suspended", -2: "buried", -3: "buried"}


@dataclass(frozen=True)
class FieldView:
    ord: int
    name: str
    value: str  # the raw HTML, for the editor
    shown: str  # cleaned HTML, for display


@dataclass(frozen=True)
class CardView:
    template: str
    deck: str
    state: str


class Collection:
    """What the note pages need to know of a user's note types and decks."""

    def __init__(self, api: CollectionApi, user: UserId) -> None:
        self.notetypes = {int(n["id"]): n for n in api.objects(user, ObjectKind.NOTETYPE)}
        self.decks = {int(d["id"]): d for d in api.objects(user, ObjectKind.DECK)}

    def notetype(self, mid: int) -> dict[str, Any]:
        found = self.notetypes.get(mid)
        if found is None:
            raise falcon.HTTPNotFound(description="there is no such note type")
        return found

    def field_names(self, mid: int) -> list[str]:
        return [str(f["name"]) for f in sorted(self.notetype(mid).get("flds", []),
                                               key=lambda f: int(f.get("ord", 0)))]

    def deck_name(self, did: int) -> str:
        found = self.decks.get(did)
        return str(found["name"]).replace("\x1f", "::") if found else f"(deck {did})"

    def normal_decks(self) -> list[tuple[int, str]]:
        return sorted(((did, self.deck_name(did)) for did, d in self.decks.items()
                       if not d.get("dyn")), key=lambda d: d[1].lower())

    def sorted_notetypes(self) -> list[tuple[int, str]]:
        return sorted(((mid, str(n["name"])) for mid, n in self.notetypes.items()),
                      key=lambda n: n[1].lower())

    def card_view(self, card: Card, mid: int) -> CardView:
        notetype = self.notetype(mid)
        templates = {int(t.get("ord", 0)): str(t["name"]) for t in notetype.get("tmpls", [])}
        template = (f"Cloze {card.ord + 1}" if notetype.get("type") == 1
                    else templates.get(card.ord, f"Card {card.ord + 1}"))
        return CardView(template, self.deck_name(card.odid or card.did),
                        QUEUES.get(card.queue, "other"))


def _fields(form: dict[str, Any], names: list[str]) -> dict[str, str]:
    values = {}
    for ord_, name in enumerate(names):
        value = form.get(f"field-{ord_}", "")
        if not isinstance(value, str) or len(value) > MAX_NOTE_FIELD:
            raise falcon.HTTPBadRequest(description=f"the field {name} is not valid")
        values[name] = value.replace("\r\n", "\n")
    return values


def _note_id(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        raise falcon.HTTPNotFound(description="there is no such note")
    return int(text)


@dataclass(frozen=True)
class NoteResource(WebResource):
    api: CollectionApi

    def media_base(self) -> str:
        return f"{self.pages.base}media/"

    def field_views(self, names: list[str], values: list[str]) -> list[FieldView]:
        return [FieldView(i, name, value, shown_field(value, self.media_base()))
                for i, (name, value) in enumerate(zip(names, values, strict=False))]


class NotePage(NoteResource):
    """`/notes/{nid}`: a note's fields (shown safely, and editable as HTML), its tags and
    cards; saving it changes it as the API would."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, nid: str) -> None:
        visitor = self.sessions.require(req)
        message = "The note was added." if req.get_param("done") == "added" else (
            "Saved." if req.get_param("done") == "saved" else "")
        self.show(resp, visitor, _note_id(nid), message=message)

    def on_post(self, req: falcon.Request, resp: falcon.Response, nid: str) -> None:
        visitor = self.sessions.require(req)
        form = posted_form(req)
        self.sessions.check_csrf(req, visitor.csrf)
        note_id = _note_id(nid)
        note, _ = self._note(visitor.user_id, note_id)
        names = Collection(self.api, visitor.user_id).field_names(note.mid)
        fields, tags = _fields(form, names), field(form, "tags")
        try:
            self.api.update_note(visitor.user_id, note_id, fields, split_tags(tags),
                                 version=field(form, "version"))
        except SyncInProgress:
            self.show(resp, visitor, note_id, 409, error=BUSY, edited=(fields, tags))
            return
        except EditConflict:
            self.show(resp, visitor, note_id, 409, error=(
                "This note was changed on one of your devices since you opened it, so your"
                " edit was not saved. Below is the note as it is now."))
            return
        except SyncRejected as e:
            self.show(resp, visitor, note_id, 400, error=str(e), edited=(fields, tags))
            return
        raise falcon.HTTPSeeOther(f"{self.pages.base}notes/{note_id}?done=saved")

    def _note(self, user: UserId, nid: int) -> tuple[Note, list[Card]]:
        try:
            return self.api.note(user, nid)
        except NotFound:
            raise falcon.HTTPNotFound(description="there is no such note (any more)") from None

    def show(self, resp: falcon.Response, visitor: Visitor, nid: int, status: int = 200,
             message: str = "", error: str = "",
             edited: tuple[dict[str, str], str] | None = None) -> None:
        note, cards = self._note(visitor.user_id, nid)
        col = Collection(self.api, visitor.user_id)
        names = col.field_names(note.mid)
        values = note.flds.split(FIELD_SEPARATOR)
        tags = note.tags.strip()
        if edited is not None:  # what the user typed, not lost to a refused save
            values = [edited[0].get(n, v) for n, v in zip(names, values, strict=False)]
            tags = edited[1]
        self.pages.render(
            resp, "note.html", status, visitor=visitor, csrf_field=CSRF_FIELD, note=note,
            notetype=col.notetype(note.mid)["name"], fields=self.field_views(names, values),
            tags=tags, cards=[col.card_view(c, note.mid) for c in cards],
            version=note_version(note), message=message, error=error)


class NoteDeletion(NoteResource):
    """`/notes/{nid}/delete`: asks first (GET), then deletes the note and its cards."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, nid: str) -> None:
        visitor = self.sessions.require(req)
        self._confirm(resp, visitor, _note_id(nid))

    def _confirm(self, resp: falcon.Response, visitor: Visitor, nid: int, status: int = 200,
                 error: str = "") -> None:
        try:
            note, cards = self.api.note(visitor.user_id, nid)
        except NotFound:
            raise falcon.HTTPNotFound(description="there is no such note (any more)") from None
        col = Collection(self.api, visitor.user_id)
        names = col.field_names(note.mid)
        self.pages.render(resp, "note_delete.html", status, visitor=visitor,
                          csrf_field=CSRF_FIELD, note=note, cards=len(cards), error=error,
                          fields=self.field_views(names, note.flds.split(FIELD_SEPARATOR)))

    def on_post(self, req: falcon.Request, resp: falcon.Response, nid: str) -> None:
        visitor = self.sessions.require(req)
        posted_form(req)
        self.sessions.check_csrf(req, visitor.csrf)
        note_id = _note_id(nid)
        try:
            deleted = self.api.delete_notes(visitor.user_id, [note_id])
        except SyncInProgress:
            self._confirm(resp, visitor, note_id, 409, error=BUSY.replace(
                "your changes are still in the form", "the note is still there"))
            return
        if not deleted:
            raise falcon.HTTPNotFound(description="there is no such note (any more)")
        raise falcon.HTTPSeeOther(f"{self.pages.base}browse?done=deleted")


def _int_param(req: falcon.Request, name: str) -> int | None:
    text = req.get_param(name) or ""
    return int(text) if text.lstrip("-").isascii() and text.lstrip("-").isdigit() \
        and len(text) < 20 else None


class NewNotePage(NoteResource):
    """`/notes/new`: pick a note type (the page reloads with its fields), a deck, fill
    the fields and tags, add; the form comes back for the next note."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        visitor = self.sessions.require(req)
        added = _int_param(req, "added")
        self.show(resp, visitor, _int_param(req, "notetype"), _int_param(req, "deck"),
                  added=added)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        visitor = self.sessions.require(req)
        form = posted_form(req)
        self.sessions.check_csrf(req, visitor.csrf)
        col = Collection(self.api, visitor.user_id)
        try:
            mid, did = int(field(form, "notetype")), int(field(form, "deck"))
        except ValueError:
            raise falcon.HTTPBadRequest(description="choose a note type and a deck") from None
        if mid not in col.notetypes or did not in col.decks or col.decks[did].get("dyn"):
            raise falcon.HTTPBadRequest(description="there is no such note type or deck")
        fields, tags = _fields(form, col.field_names(mid)), field(form, "tags")
        try:
            nid = self.api.add_notes(visitor.user_id, [NewNote(mid, fields, tuple(
                split_tags(tags)), did)])[0]
        except SyncInProgress:
            self.show(resp, visitor, mid, did, 409, error=BUSY, edited=(fields, tags))
            return
        except SyncRejected as e:
            self.show(resp, visitor, mid, did, 400, error=f"{str(e)[:1].upper()}{str(e)[1:]}.",
                      edited=(fields, tags))
            return
        raise falcon.HTTPSeeOther(
            f"{self.pages.base}notes/new?notetype={mid}&deck={did}&added={nid}")

    def show(self, resp: falcon.Response, visitor: Visitor, mid: int | None,
             did: int | None, status: int = 200, error: str = "", added: int | None = None,
             edited: tuple[dict[str, str], str] | None = None) -> None:
        col = Collection(self.api, visitor.user_id)
        notetypes, decks = col.sorted_notetypes(), col.normal_decks()
        if mid not in col.notetypes:
            mid = next((m for m, name in notetypes if name == "Basic"), notetypes[0][0]
                       if notetypes else None)
        if did not in dict(decks):
            default = col.notetypes[mid].get("did") if mid is not None else None
            did = default if default in dict(decks) else (decks[0][0] if decks else None)
        names = col.field_names(mid) if mid is not None else []
        values = [edited[0].get(n, "") for n in names] if edited else ["" for _ in names]
        self.pages.render(
            resp, "note_new.html", status, visitor=visitor, csrf_field=CSRF_FIELD,
            notetypes=notetypes, decks=decks, mid=mid, did=did,
            fields=self.field_views(names, values), tags=edited[1] if edited else "",
            error=error, added=added)


@dataclass(frozen=True)
class MediaFile(WebResource):
    """`/media/{name}`: one of the logged-in user's media files, for the pictures in
    note fields. Served so that nothing in it can run (an SVG or an HTML file)."""

    media: MediaServer
    blobs: BlobStore

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        visitor = self.sessions.require(req)
        send_media(resp, self.media, self.blobs, visitor.user_id, name)
