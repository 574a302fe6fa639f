"""The zip files of media sync: checked uploads in, downloads out.

Every rule an upload can break (member count, `_meta` size and shape, names,
declared sizes, their total) is checked before a single byte is stored.
"""

from __future__ import annotations

import contextlib
import json
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from domain.errors import BadRequest, FileMissing, PayloadTooLarge
from domain.media import MAX_FILES_PER_ZIP, MediaEntry, UploadedChange, check_name
from domain.model import UserId
from ports.media import BlobStore, PendingBlobs

META = "_meta"
MAX_META_BYTES = 50 * 1024
MAX_MEMBERS = 2 * MAX_FILES_PER_ZIP + 1


def _plan(zf: zipfile.ZipFile) -> list[tuple[str, zipfile.ZipInfo | None]]:
    """(name, member or None for a deletion) for each `_meta` entry, validated."""
    if len(zf.infolist()) > MAX_MEMBERS:
        raise BadRequest("too many members in the upload zip")
    try:
        info = zf.getinfo(META)
    except KeyError:
        raise BadRequest("upload zip has no _meta") from None
    if info.file_size > MAX_META_BYTES:
        raise BadRequest("upload zip _meta is too large")
    try:
        entries: Any = json.loads(zf.read(info))
    except (ValueError, RecursionError):
        raise BadRequest("upload zip _meta is not JSON") from None
    if not isinstance(entries, list) or len(entries) > MAX_FILES_PER_ZIP:
        raise BadRequest("upload zip _meta must list at most 25 entries")
    plan: list[tuple[str, zipfile.ZipInfo | None]] = []
    for entry in entries:
        if (not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[0], str)
                or not (entry[1] is None or isinstance(entry[1], str))):
            raise BadRequest("upload zip _meta entries must be [name, member or null]")
        name, member = check_name(entry[0]), entry[1]
        # NOTE: Python-era clients and AnkiDroid mark deletions with "" instead of null.
        if not member:
            plan.append((name, None))
            continue
        try:
            plan.append((name, zf.getinfo(member)))
        except KeyError:
            raise BadRequest(f"upload zip lacks member {member!r}") from None
    return plan


def _check_sizes(
    plan: list[tuple[str, zipfile.ZipInfo | None]], max_file: int, max_total: int
) -> None:
    total = 0
    for name, info in plan:
        if info is None:
            continue
        if info.file_size == 0:
            raise BadRequest(f"media file {name!r} is empty")
        if info.file_size > max_file:
            raise PayloadTooLarge(f"media file {name!r} is larger than {max_file} bytes")
        total += info.file_size
    if total > max_total:
        raise PayloadTooLarge(f"upload zip expands beyond {max_total} bytes")


@dataclass
class StoredUpload:
    """An upload's changes, their blobs staged (published when the changes register)."""

    changes: list[UploadedChange]
    pending: PendingBlobs


def store_upload(
    path: Path, user: UserId, blobs: BlobStore, max_file: int, max_total: int
) -> StoredUpload:
    """Check an uploaded zip, stage its files as blobs, and return the changes it holds.

    The caller registers the changes with `pending` (which publishes the blobs under the
    user's lock), then discards `pending` whatever happened.
    """
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise BadRequest("upload is not a zip file") from None
    with zf:
        plan = _plan(zf)
        _check_sizes(plan, max_file, max_total)
        files = [(name, info) for name, info in plan if info is not None]
        try:
            pending = blobs.stage_many(user, [(_opener(zf, info), info.file_size)
                                              for _, info in files])
        except (zipfile.BadZipFile, NotImplementedError, EOFError, ValueError) as e:
            raise BadRequest(f"damaged upload zip: {e}") from None
    blobs_in_order = iter(pending.blobs)
    changes = [UploadedChange(name, next(blobs_in_order) if info is not None else None)
               for name, info in plan]
    return StoredUpload(changes, pending)


def _opener(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], IO[bytes]]:
    return lambda: zf.open(info)


def write_download(
    out: IO[bytes], user: UserId, entries: Sequence[MediaEntry], blobs: BlobStore
) -> None:
    """Write the download zip: members "0", "1", ... and a `_meta` object naming them."""
    names: dict[str, str] = {}
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:
        for index, entry in enumerate(entries):
            source = blobs.open(user, entry.sha1)
            if source is None:
                raise FileMissing(f"media file {entry.fname!r} is missing from the store",
                                  entry.fname)
            member = str(index)
            with source, zf.open(zipfile.ZipInfo(member), "w", force_zip64=True) as target:
                while data := source.read(1024 * 1024):
                    target.write(data)
            names[member] = entry.fname
        zf.writestr(META, json.dumps(names, ensure_ascii=False))


def discard(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
