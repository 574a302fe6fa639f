"""SyncServer: one method per sync endpoint; the only core module that uses ports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from domain.model import UserId
from domain.new_collection import new_collection
from domain.sync.meta import MetaRequest, SchedulingFlags, ServerMeta, check_version, server_meta
from ports.clock import Clock
from ports.collection import CollectionContents
from ports.stores import UnitOfWork, UnitOfWorkFactory

T = TypeVar("T")


@dataclass
class SyncServer:
    uow: UnitOfWorkFactory
    clock: Clock

    def meta(self, user: UserId, request: MetaRequest) -> ServerMeta:
        """Answer `meta` from committed state; creates the collection of a new account."""
        check_version(request.version)
        with self.uow(write=False) as uow:
            col = uow.collections.meta(user)
            if col is not None:
                return self._meta(uow, user, request)
        with self.uow() as uow:
            if uow.collections.lock(user) is None:
                uow.collections.create(user, new_collection(self.clock.now_ms()))
            answer = self._meta(uow, user, request)
            uow.commit()
            return answer

    def upload(self, user: UserId, contents: CollectionContents) -> None:
        """Replace the user's whole collection with `contents`, all or nothing."""
        with self.uow() as uow:
            uow.collections.lock(user)
            uow.collections.replace(user, contents)
            uow.commit()

    def download(self, user: UserId, write: Callable[[CollectionContents], T]) -> T:
        """Hand one consistent snapshot of the user's collection to `write`."""
        with self.uow(write=False) as uow:
            if uow.collections.meta(user) is None:
                # Never committed: a read-only unit of work only lends the defaults to `write`.
                uow.collections.create(user, new_collection(self.clock.now_ms()))
            return write(uow.collections.export(user))

    def _meta(self, uow: UnitOfWork, user: UserId, request: MetaRequest) -> ServerMeta:
        col = uow.collections.meta(user)
        assert col is not None
        flags = SchedulingFlags.from_config(
            uow.collections.config_json(user, "schedVer"),
            uow.collections.config_json(user, "creationOffset"),
        )
        return server_meta(
            request,
            col,
            flags,
            empty=uow.collections.is_empty(user),
            media_usn=0,
            now_ms=self.clock.now_ms(),
        )
