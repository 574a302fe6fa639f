"""How much a user may store: a server default and a per-user override, in MB."""

from __future__ import annotations

from dataclasses import dataclass

MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Quotas:
    """A user's own limits in MB: None takes the server's default, 0 means no limit."""

    collection_mb: int | None = None
    media_mb: int | None = None


@dataclass(frozen=True, slots=True)
class QuotaDefaults:
    """The server's limits in MB (0: no limit)."""

    collection_mb: int = 0
    media_mb: int = 0


def limit_bytes(own_mb: int | None, default_mb: int) -> int | None:
    """The limit in bytes, or None for no limit."""
    mb = default_mb if own_mb is None else own_mb
    return None if mb <= 0 else mb * MB


def too_big(what: str, size: int, limit: int) -> str:
    """The message a client shows when a quota refuses an upload."""
    return (f"This {what} ({size / MB:.1f} MB) is larger than this server allows for your"
            f" account ({limit / MB:.0f} MB). Ask the server's administrator for more room.")


NO_LIMITS = QuotaDefaults()
