"""AnkiConnect fixtures: the adapter mounted on a small Falcon app over the real services
of the JSON API's app (every backend), and users who call it with one of their tokens."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import falcon
import pytest
from falcon import testing

from adapters.ankiconnect import AnkiConnectResource
from adapters.http.request_scope import RequestScope
from domain.api.note_search import NoteSearch
from ports.study import CardSides
from tests.api.conftest import User, api, new_user, stock_notetypes  # noqa: F401
from tests.http.harness import Api

WsgiApp = falcon.App[falcon.Request, falcon.Response]
PATH = "/ankiconnect"
EXTENSION = "chrome-extension://likgccmbimhjbgkjambclfkhldnlhbnn"


def build_app(api: Api,  # noqa: F811
              allowed_origins: tuple[str, ...] = ("http://localhost",),
              allow_urls: bool = False,
              fetch_url: Callable[[str, int], bytes] | None = None) -> WsgiApp:
    services = api.services
    app = falcon.App(middleware=[RequestScope(services.uow.request_scope)])
    app.add_route(PATH, AnkiConnectResource(
        services.accounts, services.api, NoteSearch(services.uow, services.accounts.clock),
        services.media, services.blobs, allowed_origins=allowed_origins,
        allow_urls=allow_urls, max_media_bytes=1024 * 1024, fetch_url=fetch_url,
        card_sides=sides_named))
    return app


def sides_named(_user: object, card_ids: Sequence[int]) -> dict[int, CardSides]:
    """Stands in for Anki's rendering here (the real one is tested end to end)."""
    return {cid: CardSides(f"question of {cid}", f"answer of {cid}",
                           ("<1m", "<6m", "<10m", "4d")) for cid in card_ids}


@dataclass
class Connect:
    """An AnkiConnect client for one user."""

    user: User
    http: testing.TestClient

    @property
    def id(self) -> int:
        return self.user.id

    def send(self, body: Any, headers: dict[str, str] | None = None) -> testing.Result:
        if isinstance(body, bytes | str):
            return self.http.simulate_post(PATH, body=body, headers=headers)
        return self.http.simulate_post(PATH, json=body, headers=headers)

    def request(self, action: str, version: int | None = 6, key: bool = True,
                **params: Any) -> Any:
        """The decoded answer to `action` with `params`, asserting a 200."""
        body: dict[str, Any] = {"action": action}
        if version is not None:
            body["version"] = version
        if params:
            body["params"] = params
        if key:
            body["key"] = self.user.token
        result = self.send(body)
        assert result.status_code == 200, result.text
        return result.json

    def ok(self, action: str, **params: Any) -> Any:
        """The result of an action that must succeed."""
        answer = self.request(action, **params)
        assert answer["error"] is None, answer
        return answer["result"]

    def error(self, action: str, **params: Any) -> str:
        answer = self.request(action, **params)
        assert answer["result"] is None, answer
        assert isinstance(answer["error"], str)
        return str(answer["error"])


@pytest.fixture(scope="session")
def connect_app(api: Api) -> WsgiApp:  # noqa: F811
    return build_app(api)


def connect_for(api: Api, app: WsgiApp) -> Connect:  # noqa: F811
    return Connect(new_user(api), testing.TestClient(app))


def _connected(api: Api, app: WsgiApp) -> Iterator[Connect]:  # noqa: F811
    """A user for one test, removed after it with everything they stored: the database
    is shared with other suites (a backup test reads every user's media)."""
    connected = connect_for(api, app)
    yield connected
    api.services.accounts.remove_user(connected.user.name)


@pytest.fixture
def alice(api: Api, connect_app: WsgiApp) -> Iterator[Connect]:  # noqa: F811
    yield from _connected(api, connect_app)


@pytest.fixture
def bob(api: Api, connect_app: WsgiApp) -> Iterator[Connect]:  # noqa: F811
    yield from _connected(api, connect_app)


@pytest.fixture
def stocked(alice: Connect, stock_notetypes: dict[str, dict[str, Any]]) -> Connect:  # noqa: F811
    alice.user.install_notetypes(stock_notetypes)
    return alice
