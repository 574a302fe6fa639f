"""FilesystemBlobStore: staged blobs are invisible until published, publishing is
idempotent, and nothing an upload stages outlives it for long."""

from __future__ import annotations

import hashlib
import io
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

from adapters.media.filesystem import ABANDONED_AFTER_S, FilesystemBlobStore
from domain.model import UserId

USER = UserId(5)


def source(data: bytes) -> tuple[Callable[[], IO[bytes]], int]:
    return (lambda: io.BytesIO(data)), len(data)


def read(store: FilesystemBlobStore, sha1: str) -> bytes | None:
    blob = store.open(USER, sha1)
    if blob is None:
        return None
    with blob:
        return blob.read()


def temporary_files(store: FilesystemBlobStore) -> list[Path]:
    return sorted(store.root.glob(f"{int(USER)}/.incoming-*"))


def test_staged_blobs_are_readable_only_once_published(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    pending = store.stage_many(USER, [source(b"one"), source(b"two")])
    digests = [b.sha1 for b in pending.blobs]
    assert digests == [hashlib.sha1(b"one").hexdigest(), hashlib.sha1(b"two").hexdigest()]
    assert [read(store, d) for d in digests] == [None, None]
    pending.publish()
    assert [read(store, d) for d in digests] == [b"one", b"two"]
    pending.discard()
    assert temporary_files(store) == []
    assert [read(store, d) for d in digests] == [b"one", b"two"]


def test_publishing_again_restores_a_blob_deleted_in_between(tmp_path: Path) -> None:
    """A retried registration publishes again after a deletion took the blob."""
    store = FilesystemBlobStore(tmp_path)
    pending = store.stage_many(USER, [source(b"bytes")])
    pending.publish()
    store.delete(USER, pending.blobs[0].sha1)
    pending.publish()
    pending.publish()  # and publishing over an existing blob is harmless
    assert read(store, pending.blobs[0].sha1) == b"bytes"
    pending.discard()


def test_a_source_of_the_wrong_size_stages_nothing(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    with pytest.raises(ValueError):
        store.stage_many(USER, [source(b"fine"), ((lambda: io.BytesIO(b"short")), 9)])
    assert temporary_files(store) == []


def test_files_abandoned_by_a_killed_upload_are_removed_later(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    folder = tmp_path / str(int(USER))
    folder.mkdir()
    old, recent = folder / ".incoming-old", folder / ".incoming-recent"
    old.write_bytes(b"left by a killed worker")
    recent.write_bytes(b"another upload's, in progress")
    long_ago = time.time() - ABANDONED_AFTER_S - 60
    os.utime(old, (long_ago, long_ago))
    store.stage_many(USER, [source(b"new")]).discard()
    assert temporary_files(store) == [recent]
