"""The Falcon resource answering AnkiConnect requests (`POST <base>/ankiconnect`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence

import falcon

from adapters.ankiconnect import decks, media, notes
from adapters.ankiconnect.params import ActionError, Services
from adapters.ankiconnect.protocol import (
    API_VERSION,
    DEFAULT_ORIGINS,
    Dispatcher,
    Origin,
    cors,
    decode,
    failure,
)
from adapters.http.api import read_body
from domain.accounts import Accounts
from domain.api.note_search import NoteSearch
from domain.api.service import CollectionApi
from domain.errors import PayloadTooLarge
from domain.media_server import MediaServer
from domain.model import UserId
from ports.media import BlobStore
from ports.study import CardSides

MAX_BODY = 64 * 1024 * 1024  # base64 media files come inside the JSON
# (user, card ids) -> each card as Anki renders and schedules it
RenderCards = Callable[[UserId, Sequence[int]], dict[int, CardSides]]
ACTIONS = {**decks.ACTIONS, **notes.ACTIONS, **media.ACTIONS}


class AnkiConnectResource:
    """AnkiConnect's JSON protocol over the collection API, for one route.

    `allowed_origins` is AnkiConnect's `webCorsOriginList` (its default lets in only
    `http://localhost`, which also admits the loopback address and browser
    extensions; `"*"` admits every origin). With `allow_urls`, `storeMediaFile` and
    the media of `addNote` may download from a URL (the server fetches it).
    `card_sides` renders cards for `cardsInfo`."""

    def __init__(self, accounts: Accounts, api: CollectionApi, search: NoteSearch,
                 media_server: MediaServer, blobs: BlobStore,
                 allowed_origins: Iterable[str] = DEFAULT_ORIGINS, allow_urls: bool = False,
                 max_body: int = MAX_BODY, max_media_bytes: int = 100 * 1024 * 1024,
                 fetch_url: Callable[[str, int], bytes] | None = None, *,
                 card_sides: RenderCards) -> None:
        services = Services(api, search, media_server, blobs, allow_urls, max_media_bytes,
                            fetch_url or media.fetch, accounts.user_name, card_sides)
        self._dispatcher = Dispatcher(accounts, services, ACTIONS, decks.GUI_ACTIONS)
        self._origins = tuple(allowed_origins)
        self._max_body = max_body

    def on_options(self, req: falcon.Request, resp: falcon.Response) -> None:
        _allowed, allow_origin = cors(req.get_header("Origin"), self._origins)
        _cors_headers(resp, allow_origin)
        if (req.get_header("Access-Control-Request-Private-Network") or "") == "true":
            # Lets a public origin on the list reach a server on a private network.
            resp.set_header("Access-Control-Allow-Private-Network", "true")
        resp.content_type = falcon.MEDIA_JSON
        resp.text = ""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.on_post(req, resp)  # NOTE: AnkiConnect answers every method alike

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        header = req.get_header("Origin")
        allowed, allow_origin = cors(header, self._origins)
        try:
            body = read_body(req, self._max_body) if req.method == "POST" else b""
            raw = decode(body) if body.strip() else None
        except (ActionError, PayloadTooLarge) as e:
            if not allowed:
                return _forbidden(resp, allow_origin)
            return _json(resp, allow_origin, failure(str(e)))
        if raw is None:
            if not allowed:
                return _forbidden(resp, allow_origin)
            _cors_headers(resp, allow_origin)
            resp.content_type = falcon.MEDIA_TEXT
            resp.text = f"AnkiConnect v.{API_VERSION}"
            return None
        asks_permission = raw.get("action") == "requestPermission"
        if not allowed and not asks_permission:
            return _forbidden(resp, allow_origin)
        if asks_permission and not allowed:
            allow_origin = header or allow_origin  # so the page can read the refusal
        answer = self._dispatcher.run(raw, Origin(header or "", allowed))
        return _json(resp, allow_origin, answer)


def _cors_headers(resp: falcon.Response, allow_origin: str) -> None:
    resp.set_header("Access-Control-Allow-Origin", allow_origin)
    resp.set_header("Access-Control-Allow-Headers", "*")
    if allow_origin != "*":
        resp.append_header("Vary", "Origin")


def _json(resp: falcon.Response, allow_origin: str, answer: object) -> None:
    _cors_headers(resp, allow_origin)
    resp.content_type = falcon.MEDIA_JSON
    resp.text = json.dumps(answer, ensure_ascii=False)


def _forbidden(resp: falcon.Response, allow_origin: str) -> None:
    resp.status = falcon.HTTP_403
    _cors_headers(resp, allow_origin)
    resp.text = ""
