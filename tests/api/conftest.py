"""JSON API fixtures: the app on every backend, and fresh users with a bearer token.

Users share one database per backend, so every test makes its own users; nothing a
test does can show up in another test's assertions unless user isolation is broken.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from anki.collection import Collection
from falcon import testing

from adapters.auth.passwords import Argon2PasswordHasher
from domain.model import (
    Card,
    CollectionMeta,
    Grave,
    JsonObject,
    Note,
    ObjectKind,
    RevlogEntry,
    RowKind,
    UserId,
)
from tests.http.harness import Api, start_api

BASE = "/api/v1"
STOCK_NOTETYPES = ("Basic (and reversed card)", "Basic (optional reversed card)", "Cloze")


@pytest.fixture(scope="session")
def api(db_url: str, backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The whole app (sync, media, JSON API) on the shared database of each backend."""
    app = start_api(tmp_path_factory.mktemp(f"api-{backend}"), db_url)
    # Each test makes users; the production Argon2 cost would dominate the run time.
    app.services.accounts.hasher = Argon2PasswordHasher(time_cost=1, memory_cost=64)
    yield app
    app.close()


@pytest.fixture(scope="session")
def stock_notetypes() -> dict[str, dict[str, Any]]:
    """Note types exactly as `anki` 26.9.3 creates them (schema-11 JSON), by name."""
    with tempfile.TemporaryDirectory() as tmp:
        col = Collection(str(Path(tmp) / "stock.anki2"))
        try:
            return {name: with_past_id(col.models.by_name(name)) for name in STOCK_NOTETYPES}
        finally:
            col.close()


def with_past_id(notetype: dict[str, Any]) -> dict[str, Any]:
    """The note type with its id (a creation time in ms) moved a day back. A new user's
    Basic note type has the creation time as its id, so a user made a few ms after this
    note type could otherwise get the same id, and installing it would fail."""
    return {**notetype, "id": int(notetype["id"]) - 86_400_000}


@dataclass
class User:
    """One account on the app, with an HTTP client that sends its bearer token."""

    api: Api
    http: testing.TestClient
    id: int
    name: str
    password: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def basic(self) -> dict[str, str]:
        raw = f"{self.name}:{self.password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    # -- HTTP --------------------------------------------------------------------------

    def get(self, path: str, **params: Any) -> testing.Result:
        query = {k: str(v) for k, v in params.items() if v is not None}
        return self.http.simulate_get(BASE + path, headers=self.auth, params=query)

    def post(self, path: str, body: Any = None) -> testing.Result:
        return self.http.simulate_post(BASE + path, headers=self.auth, json=body)

    def patch(self, path: str, body: Any) -> testing.Result:
        return self.http.simulate_patch(BASE + path, headers=self.auth, json=body)

    def delete(self, path: str) -> testing.Result:
        return self.http.simulate_delete(BASE + path, headers=self.auth)

    def ok(self, method: str, path: str, body: Any = None, status: int = 200,
           **params: Any) -> Any:
        """Call the API and return the JSON answer, asserting the status."""
        if method == "GET":
            result = self.get(path, **params)
        elif method == "DELETE":
            result = self.delete(path)
        else:
            result = getattr(self, method.lower())(path, body)
        assert result.status_code == status, (method, path, result.status_code, result.text)
        return result.json if result.text else None

    # -- shortcuts ---------------------------------------------------------------------

    def notetype_id(self, name: str) -> int:
        items = self.ok("GET", "/notetypes")["items"]
        return next(int(nt["id"]) for nt in items if nt["name"] == name)

    def add_notes(self, *notes: dict[str, Any]) -> list[int]:
        ids = self.ok("POST", "/notes", {"notes": list(notes)}, status=201)["ids"]
        assert len(ids) == len(notes)
        return [int(i) for i in ids]

    def add_basic(self, front: str, back: str = "", tags: tuple[str, ...] = (),
                  deck_id: int | None = None) -> int:
        note: dict[str, Any] = {"notetype_id": self.notetype_id("Basic"),
                                "fields": {"Front": front, "Back": back}, "tags": list(tags)}
        if deck_id is not None:
            note["deck_id"] = deck_id
        return self.add_notes(note)[0]

    def add_deck(self, name: str) -> int:
        return int(self.ok("POST", "/decks", {"name": name}, status=201)["id"])

    def deck_names(self) -> dict[int, str]:
        return {int(d["id"]): d["name"] for d in self.ok("GET", "/decks")["items"]}

    def cards_of(self, nid: int) -> list[dict[str, Any]]:
        return list(self.ok("GET", "/cards", note_id=nid)["cards"])

    def note_ids(self, **params: Any) -> list[int]:
        return [int(n["id"]) for n in self.ok("GET", "/notes", **params)["notes"]]

    # -- direct storage access, for setting up what only a device could create ----------

    def install_notetypes(self, stock: dict[str, dict[str, Any]]) -> None:
        """Give this user the stock note types a real Anki profile would have synced."""
        with self.api.services.api.uow() as uow:
            known = set(uow.collections.object_names(UserId(self.id), ObjectKind.NOTETYPE)
                        .values())
            objects = [_json_object(nt) for name, nt in stock.items() if name not in known]
            uow.collections.save_objects(UserId(self.id), ObjectKind.NOTETYPE, objects, [])
            uow.commit()

    def meta(self) -> CollectionMeta:
        with self.api.services.api.uow(write=False) as uow:
            meta = uow.collections.meta(UserId(self.id))
        assert meta is not None
        return meta

    def set_usn(self, usn: int) -> None:
        """Pretend devices have synced `usn` times, so API writes must stamp this usn."""
        with self.api.services.api.uow() as uow:
            meta = uow.collections.lock(UserId(self.id))
            assert meta is not None
            uow.collections.update_meta(UserId(self.id), dataclasses.replace(meta, usn=usn))
            uow.commit()

    def graves_since(self, usn: int) -> list[Grave]:
        with self.api.services.api.uow(write=False) as uow:
            return uow.collections.graves_since(UserId(self.id), usn)

    def stored_note(self, nid: int) -> Note | None:
        with self.api.services.api.uow(write=False) as uow:
            rows = uow.collections.rows_page(UserId(self.id), RowKind.NOTE, -1, None, 10**6)
        return next((n for n in rows if isinstance(n, Note) and n.id == nid), None)

    def stored_tags(self) -> dict[str, int]:
        """The tag list, with each tag's usn."""
        with self.api.services.api.uow(write=False) as uow:
            return {t.name: t.usn for t in uow.collections.tags_since(UserId(self.id), -1)}

    def stored_cards(self) -> dict[int, Card]:
        with self.api.services.api.uow(write=False) as uow:
            rows = uow.collections.rows_page(UserId(self.id), RowKind.CARD, -1, None, 10**6)
        return {c.id: c for c in rows if isinstance(c, Card)}

    def stored_deck(self, did: int) -> JsonObject | None:
        with self.api.services.api.uow(write=False) as uow:
            return uow.collections.objects(UserId(self.id), ObjectKind.DECK, [did]).get(did)

    def update_card(self, cid: int, **changes: Any) -> None:
        """Change a card as a device's scheduler would have (type, queue, due, ...)."""
        card = self.stored_cards()[cid]
        with self.api.services.api.uow() as uow:
            uow.collections.save_rows(UserId(self.id), RowKind.CARD, [],
                                      [card._replace(**changes)])
            uow.commit()

    def add_revlog(self, *entries: RevlogEntry) -> None:
        with self.api.services.api.uow() as uow:
            uow.collections.save_rows(UserId(self.id), RowKind.REVLOG, list(entries), [])
            uow.commit()

    def add_deck_object(self, deck: dict[str, Any]) -> None:
        """Store a deck as a device would have synced it (e.g. a filtered deck)."""
        with self.api.services.api.uow() as uow:
            uow.collections.save_objects(UserId(self.id), ObjectKind.DECK, [_json_object(deck)],
                                         [])
            uow.commit()


def _json_object(obj: dict[str, Any]) -> JsonObject:
    return JsonObject(id=int(obj["id"]), name=str(obj["name"]), mtime=int(obj["mod"]),
                      usn=int(obj.get("usn", 0)), json=json.dumps(obj, separators=(",", ":")))


def new_user(api: Api) -> User:
    """A fresh account that logged in through POST /api/v1/token."""
    name, password = f"api-{uuid.uuid4().hex[:12]}", f"pw-{uuid.uuid4().hex[:10]}"
    user_id = api.services.accounts.add_user(name, password)
    http = testing.TestClient(api.client.app)
    result = http.simulate_post(f"{BASE}/token", json={"username": name, "password": password})
    assert result.status_code == 201, result.text
    return User(api, http, int(user_id), name, password, result.json["token"])


@pytest.fixture
def alice(api: Api) -> User:
    return new_user(api)


@pytest.fixture
def bob(api: Api) -> User:
    return new_user(api)


@pytest.fixture
def stocked(alice: User, stock_notetypes: dict[str, dict[str, Any]]) -> User:
    """Alice, with the stock note types (reversed, optional reversed, cloze) installed."""
    alice.install_notetypes(stock_notetypes)
    return alice
