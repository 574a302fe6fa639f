"""Media bytes on the filesystem, one folder per user, addressed by SHA-1.

A blob is written to a temporary name in the user's folder, fsynced, and renamed
to its SHA-1, so a crash never leaves a partial file under a real name, and
identical files are stored once. Names the user sees live only in the database.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, BinaryIO

from domain.errors import PayloadTooLarge
from domain.media import Blob
from domain.model import UserId

CHUNK = 1024 * 1024
ABANDONED_AFTER_S = 24 * 3600
_SHA1 = re.compile(r"^[0-9a-f]{40}$")


class FilesystemBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _user_dir(self, user: UserId) -> Path:
        return self.root / str(int(user))

    def _path(self, user: UserId, sha1: str) -> Path:
        if not _SHA1.match(sha1):
            raise ValueError(f"not a sha1: {sha1!r}")
        return self._user_dir(user) / sha1[:2] / sha1

    def stage_many(
        self, user: UserId, sources: Sequence[tuple[Callable[[], IO[bytes]], int]]
    ) -> PendingFiles:
        folder = self._user_dir(user)
        folder.mkdir(parents=True, exist_ok=True)
        _remove_abandoned(folder)
        pending = PendingFiles(self, user, folder)
        try:
            for opener, size in sources:
                fd, name = tempfile.mkstemp(prefix=".incoming-", dir=folder)
                pending.temps.append(Path(name))
                with opener() as source:
                    digest, written = _copy(source, fd, size)
                if written != size:
                    raise ValueError(f"{written} bytes where {size} were declared")
                pending.blobs.append(Blob(digest, written))
            _sync(folder, pending.temps)  # contents durable before any name points at them
        except BaseException:
            pending.discard()
            raise
        return pending

    def open(self, user: UserId, sha1: str) -> BinaryIO | None:
        try:
            return self._path(user, sha1).open("rb")
        except FileNotFoundError:
            return None

    def delete(self, user: UserId, sha1: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(user, sha1).unlink()

    def remove_user(self, user: UserId) -> None:
        shutil.rmtree(self._user_dir(user), ignore_errors=True)

    # -- backups: blobs never change once published, so copies of them are consistent --

    def blob_names(self) -> set[tuple[int, str]]:
        """(user, sha1) of every published blob."""
        if not self.root.is_dir():
            return set()
        return {(int(p.parent.parent.name), p.name) for p in self.root.glob("*/*/*")
                if p.parent.parent.name.isdigit() and _SHA1.match(p.name)}

    def copy_blob(self, user: int, sha1: str, target_root: Path) -> int | None:
        """Copy a blob into the same layout under `target_root` (a hard link where both
        are on one file system); return its size, or None if it is gone."""
        source = self._path(UserId(user), sha1)
        target = target_root / str(int(user)) / sha1[:2] / sha1
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            try:
                os.link(source, target)
            except FileExistsError:
                pass
            except OSError:  # another file system (or no links): copy
                shutil.copyfile(source, target)
        except FileNotFoundError:
            return None
        return target.stat().st_size

    def is_empty(self) -> bool:
        return not self.root.is_dir() or not any(
            p.name.isdigit() for p in self.root.iterdir())

    def sync_all(self) -> None:
        """Flush every blob to disk (after a restore wrote them)."""
        if self.root.is_dir():
            _sync(self.root, [p for p in self.root.glob("*/*/*") if p.is_file()])


@dataclass
class PendingFiles:
    """Staged blobs of one upload: `.incoming-*` files in the user's folder."""

    store: FilesystemBlobStore
    user: UserId
    folder: Path
    temps: list[Path] = field(default_factory=list)
    blobs: list[Blob] = field(default_factory=list)

    def publish(self) -> None:
        # A hard link, not a rename: the temporary copy stays until `discard`, so a
        # retried registration can publish again after a deletion removed the blob.
        for temp, blob in zip(self.temps, self.blobs, strict=True):
            final = self.store._path(self.user, blob.sha1)
            final.parent.mkdir(exist_ok=True)
            with contextlib.suppress(FileExistsError):  # the same bytes are stored already
                os.link(temp, final)
        _sync(self.folder, [])

    def discard(self) -> None:
        for temp in self.temps:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        self.temps = []


def _remove_abandoned(folder: Path) -> None:
    """Remove staged files an upload left behind long ago (its worker was killed): a live
    upload publishes or discards its own within minutes."""
    cutoff = time.time() - ABANDONED_AFTER_S
    for temp in folder.glob(".incoming-*"):
        with contextlib.suppress(FileNotFoundError):
            if temp.stat().st_mtime < cutoff:
                temp.unlink()


def _copy(source: IO[bytes], fd: int, max_size: int) -> tuple[str, int]:
    sha1 = hashlib.sha1()
    size = 0
    with os.fdopen(fd, "wb") as out:
        while data := source.read(CHUNK):
            size += len(data)
            if size > max_size:
                raise PayloadTooLarge(f"media file larger than {max_size} bytes")
            sha1.update(data)
            out.write(data)
    return sha1.hexdigest(), size


def _libc_syncfs() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        syncfs: Callable[[int], int] = libc.syncfs
        return syncfs
    except (OSError, AttributeError):
        return None


_SYNCFS = _libc_syncfs()


def _sync(folder: Path, files: list[Path]) -> None:
    """Flush everything written under `folder` to disk: one syncfs(2) where Linux offers
    it (a batch of small files then costs one flush, not one fsync each), else fsync each
    file and the folders."""
    if _SYNCFS is not None:
        fd = os.open(folder, os.O_RDONLY)
        try:
            if _SYNCFS(fd) == 0:
                return
        finally:
            os.close(fd)
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    for sub in {p.parent for p in folder.glob("*/*")} | {folder}:
        _fsync_dir(sub)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
