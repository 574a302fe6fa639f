"""The OpenAPI 3 description of /api/v1, generated from the marshmallow schemas."""

from __future__ import annotations

from functools import cache
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from adapters.http import api_schemas as s

ERRORS = {
    "400": "Invalid request (validation message in the body)",
    "401": "Missing or invalid credentials",
    "404": "No such object (or it belongs to another user)",
    "409": "A device is syncing this collection; retry shortly",
    "413": "Request body too large",
}


def _op(summary: str, ok: str, response: str | None = None, body: str | None = None,
        query: str | None = None, path_id: str | None = None, auth: bool = True
        ) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {
        ok: {"description": "Success"} if response is None else {
            "description": "Success",
            "content": {"application/json": {"schema": response}}},
        **{code: {"description": text,
                  "content": {"application/json": {"schema": "ErrorOut"}}}
           for code, text in ERRORS.items()},
    }}
    if body is not None:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": body}}}
    params: list[dict[str, Any]] = []
    if query is not None:
        params.append({"in": "query", "schema": query})
    if path_id is not None:
        params.append({"in": "path", "name": path_id, "required": True,
                       "schema": {"type": "integer", "format": "int64"}})
    if params:
        op["parameters"] = params
    if not auth:
        op["security"] = []
    return op


PATHS: dict[str, dict[str, dict[str, Any]]] = {
    "/token": {
        "post": _op("Log in: get a bearer token", "201", "TokenResponse", "TokenRequest",
                    auth=False),
        "delete": _op("Revoke the bearer token used for this request", "204"),
    },
    "/decks": {"get": _op("List decks", "200", "ObjectsOut"),
               "post": _op("Create a deck (parents are created too)", "201", None, "DeckIn")},
    "/decks/{oid}": {
        "get": _op("Get a deck", "200", None, path_id="oid"),
        "patch": _op("Rename a deck (and its subdecks)", "200", None, "DeckIn", path_id="oid"),
        "delete": _op("Delete a deck, its subdecks and their cards", "204", path_id="oid"),
    },
    "/deck-configs": {"get": _op("List deck presets", "200", "ObjectsOut")},
    "/deck-configs/{oid}": {"get": _op("Get a deck preset", "200", path_id="oid")},
    "/notetypes": {"get": _op("List note types with fields and templates", "200",
                              "ObjectsOut")},
    "/notetypes/{oid}": {"get": _op("Get a note type", "200", path_id="oid")},
    "/tags": {"get": _op("List tags", "200", "TagsOut")},
    "/tags/rename": {"post": _op("Rename a tag on every note", "200", "CountOut",
                                 "TagRenameIn")},
    "/notes": {
        "get": _op("Find notes (by ids, deck, tag, note type, text), paginated", "200",
                   "NotesPage", query="NoteQuery"),
        "post": _op("Add notes; cards are generated from the note type", "201", "IdsOut",
                    "NotesIn"),
    },
    "/notes/delete": {"post": _op("Delete notes with their cards", "200", "CountOut",
                                  "IdsIn")},
    "/notes/{nid}": {
        "get": _op("Get a note", "200", "NoteOut", path_id="nid"),
        "patch": _op("Update a note's fields and/or tags", "200", "NoteOut", "NoteUpdate",
                     path_id="nid"),
        "delete": _op("Delete a note with its cards", "204", path_id="nid"),
    },
    "/cards": {"get": _op("List cards (by note or deck), paginated", "200", "CardsPage",
                          query="CardQuery")},
    "/cards/{cid}": {"get": _op("Get a card with its scheduling state", "200", "CardOut",
                                path_id="cid")},
    "/cards/move": {"post": _op("Move cards to a deck", "200", "CountOut", "MoveCardsIn")},
    "/cards/suspend": {"post": _op("Suspend cards", "200", "CountOut", "IdsIn")},
    "/cards/unsuspend": {"post": _op("Unsuspend cards", "200", "CountOut", "IdsIn")},
    "/revlog": {"get": _op("Review log, paginated", "200", "RevlogPage",
                           query="RevlogQuery")},
    "/stats": {"get": _op("Cards by state per deck, reviews per day", "200", "StatsOut",
                          query="StatsQuery")},
}

SCHEMAS = ("TokenRequest", "TokenResponse", "NoteIn", "NotesIn", "NoteUpdate", "IdsIn",
           "MoveCardsIn", "DeckIn", "TagRenameIn", "NoteOut", "CardOut", "RevlogOut",
           "NotesPage", "CardsPage", "RevlogPage", "ObjectsOut", "TagsOut", "IdsOut",
           "CountOut", "StatsOut", "ErrorOut", "NoteQuery", "CardQuery", "RevlogQuery",
           "StatsQuery")


@cache
def openapi(server_url: str = "/api/v1") -> dict[str, Any]:
    spec = APISpec(title="ankiserv API", version="1", openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin()], servers=[{"url": server_url}])
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.security_scheme("basic", {"type": "http", "scheme": "basic"})
    for name in SCHEMAS:
        spec.components.schema(name, schema=getattr(s, name))
    for path, operations in PATHS.items():
        spec.path(path=path, operations=operations)
    result = spec.to_dict()
    result["security"] = [{"bearer": []}, {"basic": []}]
    return result
