"""The real clock and the real random source."""

from __future__ import annotations

import secrets
import time


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class SecretsTokenSource:
    def token(self) -> str:
        return secrets.token_hex(20)
