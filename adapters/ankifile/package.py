"""Anki's collection packages (`.colpkg`, File → Export / Import in Anki desktop).

A package is a zip: `meta` (the package version), the collection, a media list and
the media files named `0`, `1`, …. Version 3 (Anki 2.1.50+) holds `collection.anki21b`
and every file zstd-compressed, with a protobuf media list; versions 1 and 2 hold
`collection.anki2` / `collection.anki21` and plain files with a JSON media list.
ankiserv writes version 2, which every Anki since 2.1 imports, and reads all three.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import time
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import zstandard

from adapters.ankifile import protobufs
from adapters.ankifile.writer import write_collection
from ports.collection import CollectionContents

LEGACY_1, LEGACY_2, LATEST = 1, 2, 3
_COLLECTION = {LEGACY_1: "collection.anki2", LEGACY_2: "collection.anki21",
               LATEST: "collection.anki21b"}
CHUNK = 1024 * 1024


class PackageError(Exception):
    """Not a collection package Anki could import; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class PackedMedia:
    name: str
    size: int
    open: Callable[[], IO[bytes]]


@dataclass(frozen=True, slots=True)
class UnpackedMedia:
    name: str
    sha1: str
    size: int
    path: Path


def write_package(contents: CollectionContents, media: Iterable[PackedMedia], out: Path,
                  work: Path, on_file: Callable[[int], None] = lambda _: None) -> int:
    """Write a version-2 package of `contents` and `media` to `out` (whole or not at
    all); return the number of media files."""
    collection = work / "collection.anki21"
    write_collection(contents, collection)
    partial = out.with_name(f".{out.name}.partial")
    names: dict[str, str] = {}
    try:
        with zipfile.ZipFile(partial, "w", allowZip64=True) as package:
            package.writestr("meta", protobufs.encode_package_version(LEGACY_2))
            package.write(collection, "collection.anki21", zipfile.ZIP_DEFLATED)
            for index, file in enumerate(media):
                with file.open() as source, package.open(
                        str(index), "w", force_zip64=file.size >= 2**31) as target:
                    shutil.copyfileobj(source, target, CHUNK)
                names[str(index)] = file.name
                on_file(file.size)
            package.writestr("media", json.dumps(names, ensure_ascii=False))
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return len(names)


def read_package(path: Path, work: Path) -> tuple[Path, list[UnpackedMedia]]:
    """Unpack a package into `work`: the collection file and the media files (names in
    NFC, as Anki keeps them). Raises `PackageError`."""
    try:
        with zipfile.ZipFile(path) as package:
            version = _version(package)
            collection = work / "collection.anki2"
            _extract(package, _COLLECTION[version], collection, version == LATEST)
            folder = work / "media"
            folder.mkdir()
            # Unpacked under names of our own: the list's names are not trusted as paths.
            media = [_unpack(package, member, name, folder / str(n), version == LATEST)
                     for n, (member, name) in enumerate(_media_list(package, version))]
    except (zipfile.BadZipFile, zstandard.ZstdError, OSError, EOFError) as e:
        raise PackageError(f"{path.name} is not a readable collection package: {e}") from e
    return collection, media


def _version(package: zipfile.ZipFile) -> int:
    names = set(package.namelist())
    if "meta" in names:
        try:
            version = protobufs.decode_package_version(package.read("meta"))
        except protobufs.DecodeError as e:
            raise PackageError("the package's meta is malformed") from e
        if version not in _COLLECTION:
            raise PackageError(f"package version {version} is not known (made by a newer"
                               " Anki?)")
        return version
    if "collection.anki21" in names:
        return LEGACY_2
    if "collection.anki2" in names:
        return LEGACY_1
    raise PackageError("no collection in the package (is it a .colpkg?)")


def _extract(package: zipfile.ZipFile, member: str, target: Path, zstd: bool) -> tuple[str, int]:
    """Copy one member to `target`, decompressing if asked; return its sha1 and size."""
    try:
        source = package.open(member)
    except KeyError:
        raise PackageError(f"{member} is missing from the package") from None
    sha1, size = hashlib.sha1(), 0
    with source, target.open("wb") as out:
        reader: Any = zstandard.ZstdDecompressor().stream_reader(source) if zstd else source
        with reader:
            while data := reader.read(CHUNK):
                sha1.update(data)
                size += len(data)
                out.write(data)
    return sha1.hexdigest(), size


def _media_list(package: zipfile.ZipFile, version: int) -> Iterator[tuple[str, str]]:
    """(member, file name) for every media file."""
    if "media" not in package.namelist():
        return
    data = package.read("media")
    if version == LATEST:
        data = zstandard.ZstdDecompressor().decompressobj().decompress(data)
        try:
            entries = protobufs.decode_package_media(data)
        except protobufs.DecodeError as e:
            raise PackageError("the package's media list is malformed") from e
        for index, entry in enumerate(entries):
            member = entry.legacy_zip_filename if entry.HasField("legacy_zip_filename") \
                else index
            yield str(member), entry.name
        return
    try:
        listed = json.loads(data.decode("utf-8")) if data.strip() else {}
    except (UnicodeDecodeError, ValueError) as e:
        raise PackageError("the package's media list is malformed") from e
    if not isinstance(listed, dict) or not all(isinstance(v, str) for v in listed.values()):
        raise PackageError("the package's media list is malformed")
    yield from ((str(k), v) for k, v in listed.items())


def _unpack(package: zipfile.ZipFile, member: str, name: str, target: Path, zstd: bool
            ) -> UnpackedMedia:
    sha1, size = _extract(package, member, target, zstd)
    return UnpackedMedia(unicodedata.normalize("NFC", name), sha1, size, target)


def prepare_restore(collection: Path, now_ms: int | None = None) -> None:
    """Make a collection file what a device's full upload is (as Anki does before one):
    pending usns (-1) become 0, graves go, the usn goes up by one, and the schema is
    marked changed, so every device is asked for a full sync."""
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    con = sqlite3.connect(collection)
    try:
        con.create_collation("unicase", lambda a, b: (a.casefold() > b.casefold())
                             - (a.casefold() < b.casefold()))
        tables = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = {r[1] for r in con.execute(f'PRAGMA table_info("{table}")')}
            if "usn" in columns and table != "col":
                con.execute(f'UPDATE "{table}" SET usn = 0 WHERE usn < 0')
        if "graves" in tables:
            con.execute("DELETE FROM graves")
        _clear_json_usns(con)
        con.execute("UPDATE col SET usn = usn + 1, scm = ?, ls = ?", (now, now))
        con.commit()
    except sqlite3.Error as e:
        raise PackageError(f"the collection is corrupt or not an Anki collection ({e})"
                           ) from e
    finally:
        con.close()


def _clear_json_usns(con: sqlite3.Connection) -> None:
    """Schema 11 keeps note types, decks, deck options and tags as JSON in `col`."""
    row = con.execute("SELECT models, decks, dconf, tags FROM col").fetchone()
    if row is None:
        raise PackageError("the collection has no col row")
    changed = []
    for text in row:
        try:
            value = json.loads(text) if isinstance(text, str) and text.strip() else None
        except ValueError:
            value = None
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, dict) and isinstance(item.get("usn"), int) \
                        and item["usn"] < 0:
                    item["usn"] = 0
                elif isinstance(item, int) and item < 0:  # tags: name -> usn
                    value[key] = 0
            changed.append(json.dumps(value, ensure_ascii=False))
        else:
            changed.append(text)
    con.execute("UPDATE col SET models = ?, decks = ?, dconf = ?, tags = ?", changed)
