"""Which address a request comes from: the peer, or, behind trusted reverse proxies, the
address the nearest untrusted hop reported in `X-Forwarded-For`."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

import falcon

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_ADDRESS = 64  # longer "addresses" in a forwarded header are cut, not trusted


def networks(spec: Iterable[str]) -> tuple[Network, ...]:
    """Parse addresses or CIDR ranges; raises ValueError naming a bad one."""
    found = []
    for item in spec:
        try:
            found.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an address or network: {item.strip()!r}") from None
    return tuple(found)


@dataclass(frozen=True)
class ClientAddress:
    trusted: tuple[Network, ...] = ()

    def __call__(self, req: falcon.Request) -> str:
        peer = req.remote_addr or ""
        if not self._is_trusted(peer):
            return peer
        # Each proxy appends the address it saw: the last one not ours is the client.
        hops = [h.strip() for h in (req.get_header("X-Forwarded-For") or "").split(",")]
        for hop in reversed([h for h in hops if h]):
            if not self._is_trusted(hop):
                return hop[:MAX_ADDRESS]
        return peer

    def from_trusted_proxy(self, req: falcon.Request) -> bool:
        """Whether the peer is a trusted proxy, whose X-Forwarded-* headers count."""
        return self._is_trusted(req.remote_addr or "")

    def _is_trusted(self, address: str) -> bool:
        if not self.trusted:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.trusted)


PEER = ClientAddress()  # no proxy trusted: the peer's address
