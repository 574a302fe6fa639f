"""One user's collection and media as a `.colpkg`, from one consistent snapshot: what
`ankiserv user export` writes and the account page offers for download."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from adapters.ankifile.package import PackedMedia, write_package
from domain.media import MediaEntry
from domain.model import UserId
from domain.user_export import UserExporter
from ports.collection import StoredContents
from ports.media import BlobStore

ATTEMPTS = 3


class MediaKeptChanging(Exception):
    """Media files were replaced during every attempt at an export."""


class _BlobGone(Exception):
    """A media file was replaced after the snapshot was taken: take a new one."""


@dataclass(frozen=True)
class Exported:
    notes: int
    media_files: int
    media_bytes: int


def export_package(exporter: UserExporter, blobs: BlobStore, name: str, out: Path,
                   on_start: Callable[[int], None] = lambda _: None,
                   on_file: Callable[[int], None] = lambda _: None) -> Exported:
    """Write the user's `.colpkg` to `out` (whole or not at all). `on_start` gets the
    media bytes to come, `on_file` each media file's size as it is packed. Raises
    `NoSuchUser`, `MediaKeptChanging`."""
    for _ in range(ATTEMPTS):
        try:
            with tempfile.TemporaryDirectory(dir=out.parent) as work:
                return exporter.export(name, lambda user, contents, media: _write(
                    blobs, out, Path(work), user, contents, media, on_start, on_file))
        except _BlobGone:
            continue
    raise MediaKeptChanging("media kept changing during the export; try again")


def _write(blobs: BlobStore, out: Path, work: Path, user: UserId, contents: StoredContents,
           media: Sequence[MediaEntry], on_start: Callable[[int], None],
           on_file: Callable[[int], None]) -> Exported:
    def opener(entry: MediaEntry) -> Callable[[], IO[bytes]]:
        def open_blob() -> IO[bytes]:
            blob = blobs.open(user, entry.sha1)
            if blob is None:
                raise _BlobGone(entry.fname)
            return blob
        return open_blob

    total = sum(e.size for e in media)
    on_start(total)
    files = [PackedMedia(e.fname, e.size, opener(e)) for e in media]
    count = write_package(contents, files, out, work, on_file)
    return Exported(contents.row_counts().notes, count, total)
