"""Time and randomness, passed to the domain so it never reads them itself."""

from __future__ import annotations

from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """Return the current time in milliseconds since the Unix epoch."""
        ...


class TokenSource(Protocol):
    def token(self) -> str:
        """Return a fresh random, URL-safe ASCII secret of at least 128 bits."""
        ...
