"""The study adapter, loaded when first used.

Importing the `anki` library loads its Rust backend, about 20 MB in every worker that
imports it; only studying in the browser and AnkiConnect's `cardsInfo` need it, and many
servers' workers never do either.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager

from domain.model import UserId
from ports.study import StudyCollection, StudyCollections


class StudyOnFirstUse:
    """`StudyCollections` made by `make` at the first call."""

    def __init__(self, make: Callable[[], StudyCollections]) -> None:
        self._make = make
        self._made: StudyCollections | None = None
        self._lock = threading.Lock()

    def _collections(self) -> StudyCollections:
        if self._made is None:
            with self._lock:
                if self._made is None:
                    self._made = self._make()
        return self._made

    def open(self, user: UserId) -> AbstractContextManager[StudyCollection]:
        return self._collections().open(user)

    def sync_soon(self, user: UserId, delay: float = 1.0) -> None:
        self._collections().sync_soon(user, delay)

    def secret(self, user: UserId) -> bytes:
        return self._collections().secret(user)
