"""Media sync: which files a user has, and how uploads change that.

The server keeps, per user, an index of file names (NFC), their SHA-1, size and
the media usn at which they last changed; deleted files stay in the index (sha1
"") so other devices learn of the deletion. The bytes live in a blob store.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from domain.errors import SyncRejected

MAX_NAME_BYTES = 255
MAX_FILES_PER_ZIP = 25
CHANGES_PER_REQUEST = 1000
DOWNLOAD_TARGET_BYTES = 2_621_440  # stop adding files to a download zip past this
_RESERVED = re.compile(r"(?i)^(con|prn|aux|nul|com[1-9]|lpt[1-9])(\..*)?$")


class BadMediaName(SyncRejected):
    """A media file name the server will not store."""


@dataclass(frozen=True, slots=True)
class MediaEntry:
    fname: str
    sha1: str  # lowercase hex; "" once deleted
    size: int
    usn: int

    @property
    def deleted(self) -> bool:
        return not self.sha1


@dataclass(frozen=True, slots=True)
class Blob:
    """Bytes already in the blob store, by content."""

    sha1: str
    size: int


@dataclass(frozen=True, slots=True)
class UploadedChange:
    fname: str
    blob: Blob | None  # None: the client deleted the file


def check_name(name: str) -> str:
    """Return `name` if it is a safe, NFC media file name; raise `BadMediaName` otherwise."""
    if not name or name in (".", ".."):
        raise BadMediaName("empty media file name")
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        raise BadMediaName("media file name is not valid Unicode") from None
    if len(encoded) > MAX_NAME_BYTES:
        raise BadMediaName("media file name longer than 255 bytes")
    if any(ch in name for ch in "/\\") or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise BadMediaName(f"media file name with a separator or control character: {name!r}")
    if not unicodedata.is_normalized("NFC", name):
        raise BadMediaName(f"media file name not in NFC: {name!r}")
    if _RESERVED.match(name):
        raise BadMediaName(f"reserved media file name: {name!r}")
    return name


def apply_change(change: UploadedChange, next_usn: int) -> MediaEntry:
    """The new index entry for one uploaded change, stamped with `next_usn`.

    Every change takes a usn, even one that changes no file (bytes the server already
    has, the deletion of a file it never had or already deleted): a client moves its own
    media usn to the server's only if the server's moved by exactly the number of changes
    processed, and a client left behind later downloads again files it has deleted."""
    if change.blob is None:
        return MediaEntry(change.fname, "", 0, next_usn)
    return MediaEntry(change.fname, change.blob.sha1, change.blob.size, next_usn)


def download_batch(entries: list[MediaEntry]) -> list[MediaEntry]:
    """The files to send in one zip: in order, stopping after the one that passes the
    target size (the client asks again for the rest)."""
    batch, total = [], 0
    for entry in entries:
        batch.append(entry)
        total += entry.size
        if total > DOWNLOAD_TARGET_BYTES:
            break
    return batch
