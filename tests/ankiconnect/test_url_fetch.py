"""Downloads a caller asks for (`storeMediaFile`'s and `addNote`'s `url`) never reach the
server's own network: the address check over its edge cases, and real fetches from a
local web server (standing in for the internet where the network is replaced, since
tests have no internet)."""

from __future__ import annotations

import base64
import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from falcon import testing

from adapters.ankiconnect.params import ActionError
from adapters.ankiconnect.url_fetch import MAX_REDIRECTS, Fetcher, refusal
from entrypoints.config import ConfigError, Settings
from tests.ankiconnect.conftest import PATH, Connect, build_app
from tests.http.harness import Api

PUBLIC = "93.184.216.34"  # what public names resolve to here
CDN = "93.184.216.35"

# -- the address check -------------------------------------------------------------------

REFUSED = {
    "127.0.0.1": "a loopback address", "127.255.255.254": "a loopback address",
    "::1": "a loopback address",
    "10.1.2.3": "a private address", "172.16.0.1": "a private address",
    "172.31.255.255": "a private address", "192.168.1.1": "a private address",
    "fc00::1": "a private address", "fd12:3456::1": "a private address",
    "169.254.169.254": "a link-local address", "fe80::1": "a link-local address",
    "fe80::1%eth0": "a link-local address",
    "100.64.0.1": "a shared (carrier-grade NAT) address",
    "100.127.255.255": "a shared (carrier-grade NAT) address",
    "fec0::1": "a site-local address",
    "0.0.0.0": "an unspecified address", "0.1.2.3": "an unspecified address",
    "::": "an unspecified address",
    "224.0.0.1": "a multicast address", "239.255.255.250": "a multicast address",
    "ff02::1": "a multicast address", "ff0e::1": "a multicast address",
    "255.255.255.255": "a reserved address", "240.0.0.1": "a reserved address",
    "100::1": "a reserved address",  # IPv6's discard prefix
    "::7f00:1": "a reserved address",  # IPv4-compatible 127.0.0.1
    "::8.8.8.8": "a reserved address",  # IPv4-compatible, deprecated whatever it holds
    # IPv6 spellings of IPv4 addresses are judged as those
    "::ffff:127.0.0.1": "a loopback address", "::ffff:10.0.0.1": "a private address",
    "::ffff:169.254.169.254": "a link-local address", "::ffff:0.0.0.0": "an unspecified address",
    "64:ff9b::7f00:1": "a loopback address", "64:ff9b::a9fe:a9fe": "a link-local address",
    "2002:7f00:1::": "a loopback address in 6to4 form",
    "2002:a00:1::1": "a private address in 6to4 form",
    # not globally reachable for other reasons: documentation, benchmarking, Teredo, ...
    "192.0.2.1": "a private address", "198.18.0.1": "a private address",
    "192.0.0.1": "a private address", "2001:db8::1": "a private address",
    "2001::1": "a private address",
}


@pytest.mark.parametrize(("address", "reason"), REFUSED.items())
def test_addresses_that_are_not_public_are_refused(address: str, reason: str) -> None:
    assert refusal(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", [
    "8.8.8.8", "1.1.1.1", PUBLIC, "100.63.255.255", "100.128.0.1", "172.32.0.1",
    "2606:4700:4700::1111", "2001:4860:4860::8888",
    "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"])
def test_public_addresses_are_fetched_from(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("address", [
    "127.0.0.1", "::1", "10.1.2.3", "192.168.1.1", "fd00::1", "169.254.169.254",
    "fe80::1", "100.64.0.1", "::ffff:127.0.0.1", "2002:a00:1::1"])
def test_private_addresses_are_fetched_from_where_allowed(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), allow_private=True) is None


@pytest.mark.parametrize("address", [
    "0.0.0.0", "0.1.2.3", "::", "224.0.0.1", "ff02::1", "255.255.255.255", "240.0.0.1",
    "::ffff:224.0.0.1"])
def test_what_names_no_single_host_is_refused_even_where_private_is_allowed(
        address: str) -> None:
    assert refusal(ipaddress.ip_address(address), allow_private=True) is not None


# -- a web server to fetch from ----------------------------------------------------------

Route = Callable[[BaseHTTPRequestHandler], None]


class Site:
    """A web server on 127.0.0.1 answering from `routes` (path -> route) and recording
    every request's path and Host header."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, str | None]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                site.requests.append((self.path, self.headers.get("Host")))
                route = site.routes.get(self.path)
                if route is None:
                    send(self, 404, b"not here")
                else:
                    route(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def send(handler: BaseHTTPRequestHandler, status: int, body: bytes,
         headers: dict[str, str] | None = None) -> None:
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def file(body: bytes) -> Route:
    return lambda handler: send(handler, 200, body)


def redirect(location: str, status: int = 302) -> Route:
    return lambda handler: send(handler, status, b"", {"Location": location})


def chunked(piece: bytes, count: int | None) -> Route:
    """A chunked body (no Content-Length) of `count` pieces, or pieces without end."""
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        sent = 0
        try:
            while count is None or sent < count:
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                sent += 1
            handler.wfile.write(b"0\r\n\r\n")
        except OSError:  # the fetcher hung up, as it should
            handler.close_connection = True
    return route


def until_closed(body: bytes) -> Route:
    """A body that ends when the connection does (no length, not chunked)."""
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(body)
        handler.close_connection = True
    return route


@pytest.fixture
def site() -> Iterator[Site]:
    served = Site()
    yield served
    served.close()


class Internet:
    """Stands in for DNS and the internet: names resolve as `names` says, and a
    connection to any address reaches `site` (recording the address asked for)."""

    def __init__(self, site: Site, names: dict[str, list[str]]) -> None:
        self.site = site
        self.names = names
        self.looked_up: list[str] = []
        self.connected: list[str] = []

    def resolve(self, host: str, port: int) -> Sequence[str]:
        self.looked_up.append(host)
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.names[host]

    def connect(self, address: str, port: int, timeout: float) -> socket.socket:
        self.connected.append(address)
        return socket.create_connection(("127.0.0.1", self.site.port), timeout)

    def fetcher(self, **options: Any) -> Fetcher:
        return Fetcher(resolve=self.resolve, connect=self.connect, **options)


def refused(fetch: Callable[[str, int], bytes], url: str, limit: int = 1024) -> str:
    with pytest.raises(ActionError) as caught:
        fetch(url, limit)
    message = str(caught.value)
    assert message.startswith(f"{url} download failed"), message
    return message


# -- fetching ----------------------------------------------------------------------------


def test_the_servers_own_network_is_not_contacted(site: Site) -> None:
    site.routes["/file"] = file(b"secret")
    assert refused(Fetcher(), site.url("/file")) == (
        f"{site.url('/file')} download failed: 127.0.0.1 is a loopback address (127.0.0.1),"
        " which this server does not fetch")
    assert "resolves to a loopback address" in refused(
        Fetcher(), f"http://localhost:{site.port}/file")
    assert "is a loopback address" in refused(Fetcher(), f"http://[::1]:{site.port}/file")
    assert site.requests == []


def test_private_addresses_are_fetched_from_where_the_operator_allows_it(site: Site) -> None:
    site.routes["/file"] = file(b"from the LAN")
    assert Fetcher(allow_private=True)(site.url("/file"), 1024) == b"from the LAN"
    assert site.requests == [("/file", f"127.0.0.1:{site.port}")]


def test_a_public_host_is_fetched_from_the_address_that_was_checked(site: Site) -> None:
    site.routes["/a%20b/file?q=%C3%A9&x=1"] = file(b"public")
    internet = Internet(site, {"files.example": [PUBLIC]})
    fetch = internet.fetcher()
    assert fetch("http://files.example/a b/file?q=é&x=1#frag", 1024) == b"public"
    assert site.requests == [("/a%20b/file?q=%C3%A9&x=1", "files.example")]
    assert internet.looked_up == ["files.example"] and internet.connected == [PUBLIC]


def test_a_name_is_resolved_once_so_rebinding_it_afterwards_changes_nothing(
        site: Site) -> None:
    site.routes["/file"] = file(b"public")
    answers = iter([[PUBLIC], ["127.0.0.1"]])
    internet = Internet(site, {})
    internet.resolve = lambda host, port: next(answers)  # type: ignore[method-assign]
    assert internet.fetcher()("http://rebind.example/file", 1024) == b"public"
    assert internet.connected == [PUBLIC]


def test_a_host_with_any_private_address_is_refused(site: Site) -> None:
    internet = Internet(site, {"mixed.example": [PUBLIC, "10.0.0.1"],
                               "mapped.example": ["::ffff:169.254.169.254"]})
    assert refused(internet.fetcher(), "http://mixed.example/file").endswith(
        "mixed.example resolves to a private address (10.0.0.1), which this server does not"
        " fetch")
    assert "resolves to a link-local address (::ffff:169.254.169.254)" in refused(
        internet.fetcher(), "http://mapped.example/file")
    assert internet.connected == [] and site.requests == []


def test_the_first_address_that_answers_is_used(site: Site) -> None:
    site.routes["/file"] = file(b"second")
    internet = Internet(site, {"two.example": [CDN, PUBLIC]})
    reached = internet.connect

    def connect(address: str, port: int, timeout: float) -> socket.socket:
        if address == CDN:
            internet.connected.append(address)
            raise ConnectionRefusedError("refused")
        return reached(address, port, timeout)

    fetch = Fetcher(resolve=internet.resolve, connect=connect)
    assert fetch("http://two.example/file", 1024) == b"second"
    assert internet.connected == [CDN, PUBLIC]


def test_a_redirect_to_a_private_address_is_refused(site: Site) -> None:
    site.routes["/jump"] = redirect(site.url("/file"))
    site.routes["/inside"] = redirect("http://intranet.example/file", 307)
    site.routes["/file"] = file(b"secret")
    internet = Internet(site, {"files.example": [PUBLIC], "intranet.example": ["10.1.2.3"]})
    assert refused(internet.fetcher(), "http://files.example/jump").endswith(
        f"download failed: redirected to {site.url('/file')}: 127.0.0.1 is a loopback"
        " address (127.0.0.1), which this server does not fetch")
    assert "intranet.example resolves to a private address (10.1.2.3)" in refused(
        internet.fetcher(), "http://files.example/inside")
    assert [path for path, _host in site.requests] == ["/jump", "/inside"]
    assert internet.connected == [PUBLIC, PUBLIC]


def test_redirects_to_other_public_hosts_are_followed_a_few_times(site: Site) -> None:
    site.routes["/jump"] = redirect("http://cdn.example/file", 301)
    site.routes["/file"] = file(b"from the CDN")
    site.routes["/loop"] = redirect("/loop")
    site.routes["/elsewhere"] = redirect("file:///etc/passwd")
    internet = Internet(site, {"files.example": [PUBLIC], "cdn.example": [CDN]})
    fetch = internet.fetcher()
    assert fetch("http://files.example/jump", 1024) == b"from the CDN"
    assert site.requests == [("/jump", "files.example"), ("/file", "cdn.example")]
    assert internet.connected == [PUBLIC, CDN]
    assert refused(fetch, "http://files.example/loop").endswith(
        f"more than {MAX_REDIRECTS} redirects")
    assert site.requests[2:] == [("/loop", "files.example")] * (MAX_REDIRECTS + 1)
    assert refused(fetch, "http://files.example/elsewhere").endswith(
        "redirected to file:///etc/passwd: only http and https URLs are fetched")


@pytest.mark.parametrize("url", [
    "file:///etc/passwd", "ftp://files.example/a.mp3", "gopher://files.example/",
    "data:text/plain;base64,aGk=", "javascript:alert(1)", "files.example/a.mp3",
    "//files.example/a.mp3"])
def test_only_http_and_https_urls_are_fetched(site: Site, url: str) -> None:
    internet = Internet(site, {"files.example": [PUBLIC]})
    assert refused(internet.fetcher(allow_private=True), url).endswith(
        "only http and https URLs are fetched")
    assert internet.looked_up == [] and site.requests == []


def test_malformed_urls_are_refused_without_a_request(site: Site) -> None:
    internet = Internet(site, {"files.example": [PUBLIC]})
    fetch = internet.fetcher()
    assert refused(fetch, "http://user:pw@files.example/a").endswith(
        "URLs with a user name or password are not fetched")
    assert refused(fetch, "http:///a").endswith("the URL names no host")
    assert "Port out of range" in refused(fetch, "http://files.example:70000/a")
    assert "cannot resolve nowhere.example" in refused(fetch, "http://nowhere.example/a")
    assert site.requests == []


def test_the_size_limit_holds_whatever_the_answer_says_of_its_length(site: Site) -> None:
    site.routes["/chunked"] = chunked(b"x" * 1000, 10)
    site.routes["/endless"] = chunked(b"x" * 1000, None)
    site.routes["/closed"] = until_closed(b"y" * 10_000)
    site.routes["/declared"] = file(b"z" * 10_000)
    internet = Internet(site, {"files.example": [PUBLIC]})
    fetch = internet.fetcher()
    assert fetch("http://files.example/chunked", 10_000) == b"x" * 10_000
    for path in ("/chunked", "/endless", "/closed", "/declared"):
        assert refused(fetch, f"http://files.example{path}", 9_999).endswith(
            "larger than 9999 bytes")
    assert fetch("http://files.example/closed", 10_000) == b"y" * 10_000


def test_errors_from_the_host_are_reported(site: Site) -> None:
    site.routes["/gone"] = lambda handler: send(handler, 410, b"gone")
    internet = Internet(site, {"files.example": [PUBLIC]})
    assert refused(internet.fetcher(), "http://files.example/gone") == \
        "http://files.example/gone download failed with return code 410"


# -- https: the checked address, the host's name ------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed certificate (and its key) for files.example."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=files.example", "-addext", "subjectAltName=DNS:files.example",
         "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")],
        check=True, capture_output=True)
    return folder


def test_https_is_fetched_with_the_host_name_in_sni_and_the_certificate_check(
        certificate: Path) -> None:
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(certificate / "cert.pem", certificate / "key.pem")
    names: list[str | None] = []

    def heard(_sock: ssl.SSLObject, name: str | None, _context: ssl.SSLContext) -> None:
        names.append(name)

    server_side.sni_callback = heard
    site = Site(tls=server_side)
    try:
        site.routes["/file"] = file(b"secure")
        internet = Internet(site, {"files.example": [PUBLIC], "other.example": [CDN]})
        trusting = ssl.create_default_context(cafile=str(certificate / "cert.pem"))
        fetch = internet.fetcher(tls=trusting)
        assert fetch("https://files.example/file", 1024) == b"secure"
        assert names == ["files.example"]
        assert site.requests == [("/file", "files.example")]
        assert internet.connected == [PUBLIC]
        # the certificate must name the host asked for, not merely be trusted
        assert "certificate verify failed" in refused(fetch, "https://other.example/file")
        # and the system's trusted certificates do not include this one
        assert "certificate verify failed" in refused(
            internet.fetcher(), "https://files.example/file")
    finally:
        site.close()


# -- through AnkiConnect -----------------------------------------------------------------


def test_a_refused_download_stores_nothing(api: Api, alice: Connect, site: Site) -> None:
    site.routes["/file"] = file(b"secret")
    client = testing.TestClient(build_app(api, allow_urls=True))  # the default fetcher

    def store(name: str, **options: Any) -> Any:
        return client.simulate_post(PATH, json={
            "action": "storeMediaFile", "version": 6, "key": alice.user.token,
            "params": {"filename": name, "url": site.url("/file"), **options}}).json

    answer = store("secret.txt")
    assert answer["result"] is None
    assert answer["error"] == (f"{site.url('/file')} download failed: 127.0.0.1 is a"
                               " loopback address (127.0.0.1), which this server does not"
                               " fetch")
    assert alice.ok("retrieveMediaFile", filename="secret.txt") is False
    assert site.requests == []

    lan = testing.TestClient(build_app(api, allow_urls=True,
                                       fetch_url=Fetcher(allow_private=True)))
    answer = lan.simulate_post(PATH, json={
        "action": "storeMediaFile", "version": 6, "key": alice.user.token,
        "params": {"filename": "lan.txt", "url": site.url("/file")}}).json
    assert answer == {"result": "lan.txt", "error": None}
    assert alice.ok("retrieveMediaFile", filename="lan.txt") == \
        base64.b64encode(b"secret").decode()


def test_the_operator_allows_private_addresses_with_a_setting_off_by_default() -> None:
    assert Settings.from_env({}).ankiconnect_fetch_private is False
    on = Settings.from_env({"ANKISERV_ANKICONNECT_FETCH_PRIVATE": "1"})
    assert on.ankiconnect_fetch_private is True
    with pytest.raises(ConfigError, match="ANKISERV_ANKICONNECT_FETCH_PRIVATE must be true"):
        Settings.from_env({"ANKISERV_ANKICONNECT_FETCH_PRIVATE": "lan"})
