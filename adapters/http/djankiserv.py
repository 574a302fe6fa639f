"""djankiserv 0.0.9's API under /djs/dapi/, so its users can switch by changing the host.

Same request and response shapes; tokens are ankiserv bearer tokens handed out as
djankiserv's JWT pair (`access` and `refresh` are the same revocable token).
Unlike djankiserv, `deleteNotes` deletes the notes' cards too, an empty id list
deletes nothing, and `addNotes` is all or nothing (a refused batch creates no deck).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import falcon

from adapters.http import codec, metrics
from adapters.http.api import Auth, read_json, respond
from domain.api.service import CollectionApi, NewNote
from domain.errors import BadRequest, NotFound
from domain.model import ObjectKind, UserId
from domain.sync.note_text import FIELD_SEPARATOR
from ports.queries import NoteFilter

BASE = "/djs/dapi"
ALL = 10**9


@dataclass
class DjankiservApi:
    auth: Auth
    api: CollectionApi

    def on_post_token(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = codec.json_object(read_json(req))
        name, password = body.get("username"), body.get("password")
        if not isinstance(name, str) or not isinstance(password, str):
            raise BadRequest("username and password are required")
        client = self.auth.client_address(req)
        key = metrics.counted_login(
            lambda: self.auth.accounts.login(name, password, client), name, client)
        respond(resp, None, {"refresh": key, "access": key})

    def on_post_refresh(self, req: falcon.Request, resp: falcon.Response) -> None:
        refresh = codec.json_object(read_json(req)).get("refresh")
        if not isinstance(refresh, str):
            raise BadRequest("refresh is required")
        self.auth.accounts.authenticate(refresh)
        respond(resp, None, {"access": refresh})

    def _objects(self, user: UserId, kind: ObjectKind) -> dict[str, Any]:
        return {str(o["id"]): o for o in self.api.objects(user, kind)}

    def on_get_decks(self, req: falcon.Request, resp: falcon.Response) -> None:
        respond(resp, None, {"decks": self._objects(self.auth.user(req), ObjectKind.DECK)})

    on_post_decks = on_get_decks

    def on_get_decks_conf(self, req: falcon.Request, resp: falcon.Response) -> None:
        user = self.auth.user(req)
        respond(resp, None, {"decks_conf": self._objects(user, ObjectKind.DECK_CONFIG)})

    on_post_decks_conf = on_get_decks_conf

    def on_get_models(self, req: falcon.Request, resp: falcon.Response) -> None:
        respond(resp, None, {"models": self._objects(self.auth.user(req), ObjectKind.NOTETYPE)})

    on_post_models = on_get_models

    def on_get_tags(self, req: falcon.Request, resp: falcon.Response) -> None:
        respond(resp, None, {"tags": self.api.tags(self.auth.user(req))})

    on_post_tags = on_get_tags

    def on_get_notes(self, req: falcon.Request, resp: falcon.Response) -> None:
        user = self.auth.user(req)
        ids = _ids(read_json(req))  # a chunked body has no content length
        models = {o["id"]: o["name"] for o in self.api.objects(user, ObjectKind.NOTETYPE)}
        notes = self.api.notes(user, NoteFilter(ids=tuple(ids) if ids else None), None, ALL)
        respond(resp, None, {"notes": [
            {"id": n.id, "model": models.get(n.mid, ""),
             "fields": n.flds.split(FIELD_SEPARATOR), "tags": n.tags.split()} for n in notes]})

    on_post_notes = on_get_notes

    def on_post_add_notes(self, req: falcon.Request, resp: falcon.Response) -> None:
        user = self.auth.user(req)
        body = codec.json_object(read_json(req))
        deck, notes = body.get("deck"), body.get("notes")
        if not isinstance(deck, str) or not isinstance(notes, list) or not notes:
            raise BadRequest("deck (a name) and notes (a list) are required")
        models = {o["name"]: o for o in self.api.objects(user, ObjectKind.NOTETYPE)}
        new = [self._new_note(models, n) for n in notes]
        # The deck is found or made in the notes' unit of work: a refused batch adds none.
        respond(resp, None, {"note_ids": self.api.add_notes(user, new, deck_name=deck)})

    @staticmethod
    def _new_note(models: dict[str, Any], note: Any) -> NewNote:
        note = codec.json_object(note)
        model = models.get(note.get("model"))
        if model is None:
            raise NotFound(f"no note type named {note.get('model')!r}")
        values, tags = note.get("fields"), note.get("tags", [])
        names = [f["name"] for f in model.get("flds", [])]
        if not isinstance(values, list) or len(values) != len(names) or not all(
                isinstance(v, str) for v in values):
            raise BadRequest(f"fields must be a list of {len(names)} strings")
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise BadRequest("tags must be a list of strings")
        # A tag cannot hold a space: djankiserv's notes (and Anki) read "a b" as two tags,
        # so they are split here, and the tag list gets the same two.
        words = tuple(word for tag in tags for word in tag.split())
        return NewNote(model["id"], dict(zip(names, values, strict=True)), words)

    def on_post_delete_notes(self, req: falcon.Request, resp: falcon.Response) -> None:
        user = self.auth.user(req)
        ids = _ids(read_json(req))
        if ids:
            self.api.delete_notes(user, ids)
        respond(resp, None, {"status": "ok"})


def _ids(body: Any) -> list[int]:
    ids = codec.json_object(body).get("ids") or []
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool)
                                            for i in ids):
        raise BadRequest("ids must be a list of integers")
    return ids


def add_routes(app: falcon.App[falcon.Request, falcon.Response], auth: Auth,
               api: CollectionApi) -> None:
    resource = DjankiservApi(auth, api)
    for path, suffix in (("token", "token"), ("token/refresh", "refresh"), ("decks", "decks"),
                         ("decksConf", "decks_conf"), ("models", "models"), ("tags", "tags"),
                         ("notes", "notes"), ("addNotes", "add_notes"),
                         ("deleteNotes", "delete_notes")):
        app.add_route(f"{BASE}/{path}", resource, suffix=suffix)


