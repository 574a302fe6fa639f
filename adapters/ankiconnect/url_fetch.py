"""Downloading a URL an AnkiConnect caller names, without reaching the server's own network.

The caller can read what was downloaded back (`retrieveMediaFile`), so an unchecked fetch
would let anyone with a token read services on the server's loopback, its LAN or a cloud
metadata endpoint (server-side request forgery). Here a host name is resolved once, every
address it resolves to must be public, and the connection goes to one of those checked
addresses (the name still goes in the Host header, in TLS's SNI and into the certificate
check), so a DNS answer that changes between the check and the connection (rebinding)
gets nowhere. Redirects, to any host, are followed a few times, each checked the same way:
media hosts often redirect to a CDN, and a checked hop is as safe as the first request.
Any port is allowed: the address is what keeps the server's own network out of reach.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Callable, Sequence
from urllib.parse import quote, urljoin, urlsplit

from adapters.ankiconnect.params import ActionError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolve = Callable[[str, int], Sequence[str]]  # (host, port) -> addresses, as text
Connect = Callable[[str, int, float], socket.socket]  # (address, port, timeout) -> socket

URL_TIMEOUT = 10  # seconds, for connecting and for each read
MAX_REDIRECTS = 5
USER_AGENT = "ankiserv (AnkiConnect media download)"
_CHUNK = 64 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")  # "this host on this network"
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # an IPv4 address, through a NAT64 gateway
# Characters left as they are in a path and query (as `requests` does); others, such as
# spaces and non-ASCII letters, are percent-encoded. Existing %XX escapes are kept.
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"


def refusal(address: IPAddress, allow_private: bool = False) -> str | None:
    """Why `address` is not fetched from (e.g. "a loopback address"), or None if it may be.

    Never: what names no single host (unspecified, 0.0.0.0/8, multicast, broadcast and
    the other reserved ranges). Unless `allow_private`: anything not globally reachable
    (loopback, private, link-local, shared, site-local, documentation, ...). An IPv6
    address that stands for an IPv4 one (::ffff:a.b.c.d, NAT64's 64:ff9b::a.b.c.d) is
    judged as that IPv4 address; a 6to4 one (2002::/16) must pass as both."""
    if isinstance(address, ipaddress.IPv6Address):
        behind = _ipv4_behind(address)
        if behind is not None:
            return refusal(behind, allow_private)
        if address.sixtofour is not None:
            inner = refusal(address.sixtofour, allow_private)
            if inner is not None:
                return f"{inner} in 6to4 form"
    never = _no_single_host(address)
    if never is not None or allow_private:
        return never
    return _private(address)


def _ipv4_behind(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address that `address` is only another spelling of, if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _no_single_host(address: IPAddress) -> str | None:
    if address.is_unspecified or address in _THIS_NETWORK:
        return "an unspecified address"
    if address.is_multicast:
        return "a multicast address"
    # 240.0.0.0/4, 255.255.255.255, IPv6's unassigned ranges and IPv4-compatible
    # ::a.b.c.d; ::1 lies in the reserved ::/8 too but is loopback, judged with private ones
    if address.is_reserved and not address.is_loopback:
        return "a reserved address"
    return None


def _private(address: IPAddress) -> str | None:
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if address.is_private:
        return "a private address"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "a site-local address"  # fec0::/10, which is_global does not exclude
    return None if address.is_global else "a non-public address"


def resolve(host: str, port: int) -> list[str]:
    """Every address the system's resolver gives `host` for TCP, each once."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in found))


def connect(address: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection to `address`, a numeric address (so nothing is looked up again)."""
    return socket.create_connection((address, port), timeout)


class _Refused(Exception):
    """The download is not attempted or given up; `str(e)` says why."""


class Fetcher:
    """A `fetch_url` for AnkiConnect: `fetcher(url, limit)` is the body of an http(s) URL,
    at most `limit` bytes, or `ActionError`. Only public addresses are contacted unless
    `allow_private`. `resolve`, `connect` and `tls` are the network (tests replace them)."""

    def __init__(self, allow_private: bool = False, resolve: Resolve = resolve,
                 connect: Connect = connect, tls: ssl.SSLContext | None = None) -> None:
        self.allow_private = allow_private
        self._resolve = resolve
        self._connect = connect
        self._tls = tls

    def __call__(self, url: str, limit: int) -> bytes:
        try:
            return self._follow(url, limit)
        except _Refused as e:
            raise ActionError(f"{url} download failed: {e}") from None
        except (OSError, http.client.HTTPException, ValueError) as e:
            # ValueError: a malformed URL (a bad port, say); HTTPException: a broken answer
            raise ActionError(f"{url} download failed: {e or type(e).__name__}") from None

    def _follow(self, url: str, limit: int) -> bytes:
        target = url
        for _ in range(MAX_REDIRECTS + 1):
            try:
                connection = self._open(target)
            except _Refused as e:
                raise _Refused(str(e) if target == url else f"redirected to {target}: {e}"
                               ) from None
            try:
                parts = urlsplit(target)
                path = quote(parts.path or "/", safe=_URL_SAFE)
                query = f"?{quote(parts.query, safe=_URL_SAFE)}" if parts.query else ""
                connection.request("GET", path + query, headers={"User-Agent": USER_AGENT})
                # closed here: an answer that closes its connection owns the socket
                with connection.getresponse() as answer:
                    location = answer.getheader("Location")
                    if answer.status in _REDIRECTS and location:
                        target = urljoin(target, location.strip())
                        continue
                    if not 200 <= answer.status < 300:
                        raise ActionError(
                            f"{url} download failed with return code {answer.status}")
                    return _read(answer, limit)
            finally:
                connection.close()
        raise _Refused(f"more than {MAX_REDIRECTS} redirects")

    def _open(self, target: str) -> http.client.HTTPConnection:
        """A connection for `target`, to an address that was checked, not yet used."""
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https"):
            raise _Refused("only http and https URLs are fetched")
        if parts.username is not None or parts.password is not None:
            raise _Refused("URLs with a user name or password are not fetched")
        host = parts.hostname
        if not host:
            raise _Refused("the URL names no host")
        https = parts.scheme == "https"
        port = parts.port if parts.port is not None else 443 if https else 80
        sock = self._connected(host, self._checked(host, port), port)
        try:
            if https:
                sock = self._context().wrap_socket(sock, server_hostname=host)
            connection = (http.client.HTTPSConnection if https else http.client.HTTPConnection)(
                host, port, timeout=URL_TIMEOUT)
        except BaseException:
            sock.close()
            raise
        # The connection uses this socket and never opens one of its own (which would
        # look the name up again).
        connection.sock = sock
        connection.auto_open = 0
        return connection

    def _checked(self, host: str, port: int) -> list[str]:
        """Every address of `host`, once each, if all of them may be contacted."""
        try:
            addresses = [str(ipaddress.ip_address(host))]  # a literal: nothing to look up
            verb = "is"
        except ValueError:
            try:
                addresses = list(self._resolve(host, port))
            except OSError as e:
                raise _Refused(f"cannot resolve {host} ({e.strerror or e})") from None
            verb = "resolves to"
        if not addresses:
            raise _Refused(f"{host} has no address")
        for text in addresses:
            reason = refusal(ipaddress.ip_address(text), self.allow_private)
            if reason is not None:
                raise _Refused(f"{host} {verb} {reason} ({text}), which this server does "
                               "not fetch")
        return addresses

    def _connected(self, host: str, addresses: list[str], port: int) -> socket.socket:
        """A socket connected to the first of `addresses` that answers."""
        failure: OSError | None = None
        for address in addresses:
            try:
                return self._connect(address, port, URL_TIMEOUT)
            except OSError as e:
                failure = e
        raise _Refused(f"cannot connect to {host} ({failure})")

    def _context(self) -> ssl.SSLContext:
        """The TLS settings: the system's trusted certificates, host names checked."""
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls


def _read(answer: http.client.HTTPResponse, limit: int) -> bytes:
    """The body, in pieces, until it passes `limit` bytes (whatever Content-Length says)."""
    declared = (answer.getheader("Content-Length") or "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise _Refused(f"larger than {limit} bytes")
    body = bytearray()
    while len(body) <= limit:
        piece = answer.read(min(_CHUNK, limit + 1 - len(body)))
        if not piece:
            break
        body += piece
    if len(body) > limit:
        raise _Refused(f"larger than {limit} bytes")
    return bytes(body)
