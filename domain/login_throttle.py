"""How long a login must wait after failed ones: growing delays per user name and per
client address, so guessing passwords is slow while a mistyped password costs nothing.

Pure rules; the failures themselves are kept by the user store, so every worker and
every instance of the server sees the same counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

WINDOW_MS = 60 * 60 * 1000  # failures older than this are forgotten
MAX_DELAY_MS = 15 * 60 * 1000


class ThrottleKind(Enum):
    """(failures allowed before delays start, longest delay). A name is one account;
    an address may be a whole school behind one router, so it gets more failures and
    shorter delays: enough to make spraying guesses over many names slow."""

    NAME = (5, MAX_DELAY_MS)
    ADDRESS = (50, 60 * 1000)

    @property
    def free(self) -> int:
        return self.value[0]

    @property
    def max_delay_ms(self) -> int:
        return self.value[1]


@dataclass(frozen=True, slots=True)
class LoginFailures:
    """Failed logins for one user name or client address, the last at `last_ms`."""

    count: int
    last_ms: int


def wait_ms(failures: LoginFailures | None, kind: ThrottleKind, now_ms: int) -> int:
    """How long a new login attempt must wait (0: it may go ahead now). The delay
    doubles with each failure past the free ones: 1 s, 2 s, 4 s ... up to the kind's
    longest delay."""
    if failures is None or now_ms - failures.last_ms > WINDOW_MS:
        return 0
    over = failures.count - kind.free
    if over < 0:
        return 0
    delay: int = min(1000 << min(over, 30), kind.max_delay_ms)
    return max(0, failures.last_ms + delay - now_ms)


def after_failure(failures: LoginFailures | None, now_ms: int) -> LoginFailures:
    if failures is None or now_ms - failures.last_ms > WINDOW_MS:
        return LoginFailures(1, now_ms)
    return LoginFailures(failures.count + 1, now_ms)
