"""The address the web page tells people to enter: the configured one, or the one the
browser used (default ports left out, the base path added)."""

from __future__ import annotations

import falcon.testing
import pytest

from adapters.http.client_address import ClientAddress, networks
from adapters.http.origin import OwnOrigin
from adapters.web.landing import PublicAddress


def _address(configured: str = "", *, trusted: str = "", **headers: str) -> str | None:
    env = falcon.testing.create_environ(path="/", headers=headers, remote_addr="10.0.0.5")
    client = ClientAddress(networks([trusted] if trusted else []))
    return PublicAddress(configured, OwnOrigin(client), "/anki/")(falcon.Request(env))


@pytest.mark.parametrize(("host", "expected"), [
    ("example.org", "http://example.org/anki/"),
    ("example.org:80", "http://example.org/anki/"),
    ("example.org:8080", "http://example.org:8080/anki/"),
    ("[2001:db8::1]:8080", "http://[2001:db8::1]:8080/anki/"),
    ("[2001:db8::1]", "http://[2001:db8::1]/anki/"),
])
def test_the_address_the_browser_used(host: str, expected: str) -> None:
    assert _address(Host=host) == expected


def test_a_host_no_client_could_use_gives_no_address() -> None:
    assert _address(Host="exa<mple>.org/x") is None


def test_a_trusted_proxy_names_the_public_scheme_and_host() -> None:
    forwarded = {"Host": "127.0.0.1:8080", "X-Forwarded-Proto": "https",
                 "X-Forwarded-Host": "anki.example.org"}
    assert _address(trusted="10.0.0.0/8", **forwarded) == "https://anki.example.org/anki/"
    assert _address(**forwarded) == "http://127.0.0.1:8080/anki/"  # untrusted: ignored


def test_the_configured_address_wins() -> None:
    assert _address("https://example.org/x", Host="other") == "https://example.org/x/"
