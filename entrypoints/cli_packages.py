"""`ankiserv user export` and `user import`: one user's collection as Anki's `.colpkg`."""

from __future__ import annotations

import argparse
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from adapters.ankifile.package import (
    PackageError,
    UnpackedMedia,
    prepare_restore,
    read_package,
)
from adapters.ankifile.reader import UploadedCollection
from adapters.ankifile.user_package import MediaKeptChanging, export_package
from adapters.importers.source_files import ImportSourceError, count_notes, sqlite_copy
from domain.errors import UploadRejected
from domain.media import BadMediaName, MediaEntry
from domain.user_export import UserExporter
from domain.user_import import ImportFailed, MediaFile, UserImporter
from entrypoints.cli_errors import CliError
from entrypoints.config import Settings
from entrypoints.progress import MB, Progress
from entrypoints.services import Services


def add_user_actions(user: Any, existing: Callable[[Settings], Services]) -> None:
    export = user.add_parser("export", help="write a user's collection and media as a"
                             " .colpkg that Anki imports (File → Import)")
    export.add_argument("name")
    export.add_argument("file", type=Path, metavar="FILE.colpkg")
    export.set_defaults(run=lambda args, settings: _user_export(args, existing(settings)))
    restore = user.add_parser("import", help="replace a user's collection with a .colpkg"
                              " (media too) or .anki2 file; devices then need a full sync")
    restore.add_argument("name")
    restore.add_argument("file", type=Path, metavar="FILE.colpkg|FILE.anki2")
    restore.set_defaults(run=lambda args, settings: _user_import(args, settings,
                                                                 existing(settings)))


def _user_export(args: argparse.Namespace, services: Services) -> int:
    exporter = UserExporter(services.uow, services.accounts.clock)
    out: Path = args.file
    if not out.parent.is_dir():
        raise CliError(f"cannot write {out}: {out.parent} is not a folder")
    progress = Progress(1, 0)

    def started(media_bytes: int) -> None:
        progress.total_bytes = max(media_bytes, 1)
        progress.bytes_done = progress.media_files = 0  # again on a retry
        progress.start_user(out.name)

    try:
        done = export_package(exporter, services.blobs, args.name, out, started,
                              lambda size: progress.add(media_files=1, nbytes=size))
    except MediaKeptChanging as e:
        raise CliError(str(e)) from None
    finally:
        services.close()
    progress.finish()
    print(f"exported {done.notes} notes and {done.media_files} media files"
          f" ({out.stat().st_size / MB:.1f} MB) to {out}")
    return 0


def _user_import(args: argparse.Namespace, settings: Settings, services: Services) -> int:
    path: Path = args.file
    importer = UserImporter(uow=services.uow, hasher=services.accounts.hasher,
                            clock=services.accounts.clock, blobs=services.blobs)
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(dir=settings.tmp_dir) as work:
            collection, media = _unpacked(path, Path(work))
            prepare_restore(collection)
            files = None if media is None else [
                MediaFile(MediaEntry(m.name, m.sha1, m.size, 0), _reader(m.path))
                for m in media]
            progress = Progress(1, sum(m.size for m in media or ()))
            progress.start_user(args.name)
            with UploadedCollection(collection) as contents:
                notes = count_notes(collection)
                result = importer.restore(args.name, contents, files,
                                          on_media=lambda n: progress.add(media_files=1))
            progress.finish()
    except (PackageError, ImportSourceError, ImportFailed, BadMediaName) as e:
        raise CliError(f"{path.name}: {e}") from e
    except UploadRejected as e:
        raise CliError(f"{path.name}: the collection is corrupt or not an Anki"
                         " collection") from e
    finally:
        services.close()
    kept = "media unchanged" if media is None else f"{result.media_files} media files"
    print(f"collection of {args.name.strip()} replaced from {path.name}: {notes} notes,"
          f" {kept}; its devices will be asked for a full sync")
    return 0


def _reader(path: Path) -> Callable[[], IO[bytes]]:
    return lambda: path.open("rb")


def _unpacked(path: Path, work: Path) -> tuple[Path, list[UnpackedMedia] | None]:
    """The collection file (a private copy) and, for a package, its media."""
    if not path.is_file():
        raise CliError(f"{path} is not a file")
    if zipfile.is_zipfile(path):
        return read_package(path, work)
    return sqlite_copy(path, work / "collection.anki2"), None
