"""Hand one consistent snapshot of a user's collection and media list to a writer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from domain.errors import NoSuchUser
from domain.media import MediaEntry
from domain.model import UserId
from domain.new_collection import new_collection
from ports.clock import Clock
from ports.collection import StoredContents
from ports.stores import UnitOfWorkFactory

T = TypeVar("T")


@dataclass
class UserExporter:
    uow: UnitOfWorkFactory
    clock: Clock

    def export(self, name: str,
               write: Callable[[UserId, StoredContents, Sequence[MediaEntry]], T]) -> T:
        """Call `write` with the user's collection and present media files, both from
        one snapshot (a sync finishing meanwhile is wholly in or wholly out). Raises
        `NoSuchUser`."""
        with self.uow(write=False) as uow:
            found = uow.users.find(name.strip())
            if found is None:
                raise NoSuchUser(name.strip())
            user = found[0].id
            if uow.collections.version(user) is None:  # never synced: lent defaults
                uow.collections.create(user, new_collection(self.clock.now_ms()))
            media = [e for e in uow.media.changes_since(user, -1, 2**31) if not e.deleted]
            return write(user, uow.collections.export(user), media)
