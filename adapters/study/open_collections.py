"""Study collections kept open between requests, per process: reopening one costs a
few milliseconds, but rebuilding Anki's study queue in it costs 15-40 ms for a large
collection, twice per answer. A collection is reused only if nobody else (another
worker, process or host) changed its file since this process last used it, which
SQLite's `data_version` tells; otherwise it is opened anew. At most `capacity` stay open
per process, and none longer than `idle_s` unused: memory stays bounded."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from pathlib import Path

from anki.collection import Collection

from domain.model import UserId

CAPACITY = 16
IDLE_S = 600.0


def _inode(path: Path) -> int:
    return path.stat().st_ino


def _data_version(col: Collection) -> int:
    assert col.db is not None
    return int(col.db.scalar("PRAGMA data_version"))


class OpenCollections:
    def __init__(self, capacity: int = CAPACITY, idle_s: float = IDLE_S) -> None:
        self._capacity, self._idle_s = capacity, idle_s
        self._lock = threading.Lock()
        # user -> (collection, its data_version when put back, when put back)
        self._kept: OrderedDict[UserId, tuple[Collection, int, float]] = OrderedDict()
        self._inodes: dict[int, int] = {}  # id(collection) -> its file's inode when opened

    def take(self, user: UserId, path: Path) -> Collection:
        """The user's collection, for the caller alone until `put` or `discard` (the
        caller holds the user's file lock)."""
        with self._lock:
            kept = self._kept.pop(user, None)
        if kept is not None:
            col, version, _ = kept
            try:
                # The same file (not deleted or replaced meanwhile), unchanged by others.
                if _inode(path) == self._inodes.get(id(col)) and _data_version(col) == version:
                    return col
            except Exception:  # a broken handle or a vanished file: open anew
                pass
            self._close(col)
        col = Collection(str(path))
        self._inodes[id(col)] = _inode(path)
        return col

    def _close(self, col: Collection) -> None:
        self._inodes.pop(id(col), None)
        col.close()

    def put(self, user: UserId, col: Collection) -> None:
        """Keep the collection for the next request (still under the file lock)."""
        version = _data_version(col)
        now = time.monotonic()
        with self._lock:
            self._kept[user] = (col, version, now)
            stale = [u for u, (_, _, used) in self._kept.items() if now - used > self._idle_s]
            while len(self._kept) - len(stale) > self._capacity:
                stale.append(next(iter(self._kept)))
            closing = [self._kept.pop(u)[0] for u in dict.fromkeys(stale) if u in self._kept]
        for old in closing:
            self._close(old)

    def discard(self, col: Collection) -> None:
        """Close a collection whose state is in doubt (its request failed)."""
        self._close(col)

    def close_all(self) -> None:
        with self._lock:
            kept, self._kept = list(self._kept.values()), OrderedDict()
        for col, _, _ in kept:
            self._close(col)
