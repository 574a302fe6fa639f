"""Browser cookies are Secure exactly when the browser used HTTPS: directly, or as a
trusted proxy says with X-Forwarded-Proto."""

from __future__ import annotations

from typing import Any, cast

import falcon
import falcon.testing
import pytest

from adapters.http.client_address import ClientAddress, networks
from adapters.http.origin import OwnOrigin
from adapters.web.session import LOGIN_COOKIE, Sessions
from domain.accounts import Accounts


def _cookie(scheme: str = "http", trusted: str = "", **headers: str) -> Any:
    client = ClientAddress(networks([trusted] if trusted else []))
    sessions = Sessions(cast(Accounts, None), OwnOrigin(client), client, "/anki/")
    env = falcon.testing.create_environ(path="/anki/login", scheme=scheme, headers=headers,
                                        remote_addr="10.0.0.5")
    resp = falcon.Response()
    sessions.login_token(falcon.Request(env), resp)
    assert resp._cookies is not None
    return resp._cookies[LOGIN_COOKIE]


@pytest.mark.parametrize(("scheme", "trusted", "headers", "secure"), [
    ("http", "", {}, False),
    ("https", "", {}, True),
    ("http", "10.0.0.0/8", {"X-Forwarded-Proto": "https"}, True),
    ("http", "", {"X-Forwarded-Proto": "https"}, False),  # not from a trusted proxy
])
def test_secure_follows_the_scheme_the_browser_used(
        scheme: str, trusted: str, headers: dict[str, str], secure: bool) -> None:
    cookie = _cookie(scheme, trusted, **headers)
    assert bool(cookie["secure"]) is secure
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/anki/"
