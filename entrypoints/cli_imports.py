"""`ankiserv import …`: bring users over from another sync server, one at a time, each
all or nothing."""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.ankifile.reader import UploadedCollection
from adapters.auth.foreign_hashes import is_foreign
from adapters.importers import ankisyncd, djankiserv, official
from adapters.importers.source_files import ImportSourceError, count_notes
from domain.errors import SyncError, UploadRejected, UserExists
from domain.media import BadMediaName
from domain.user_import import ImportedUser, ImportFailed, UserImporter
from entrypoints.cli_errors import CliError
from entrypoints.config import Settings
from entrypoints.progress import MB, Progress
from entrypoints.services import Services


@dataclass(frozen=True)
class PlannedUser:
    """One user of the source: a name, the bytes to move (for the estimate), and how to
    read the user's data into a work folder."""

    name: str
    size: int
    read: Callable[[Path], tuple[ImportedUser, Path | None]]


def add_import_commands(commands: Any, migrated: Callable[[Settings], tuple[Services, str]]
                        ) -> None:
    sources = commands.add_parser(
        "import", help="bring users over from another sync server (devices go on with a"
        " normal sync)").add_subparsers(required=True, metavar="SOURCE")
    off = sources.add_parser("official", help="the official sync server's SYNC_BASE folder")
    off.add_argument("sync_base", type=Path, metavar="SYNC_BASE")
    off.add_argument("--env-file", type=Path, metavar="FILE",
                     help="the official server's settings (SYNC_USER1=…, PASSWORDS_HASHED);"
                          " default: this command's environment")
    djk = sources.add_parser("djankiserv", help="djankiserv's database and media folder")
    djk.add_argument("database_url", metavar="DATABASE_URL",
                     help="djankiserv's database (holding auth_user), e.g."
                          " postgresql://user@host/djankiserv")
    djk.add_argument("--media-root", type=Path, required=True, metavar="DIR",
                     help="djankiserv's DJANKISERV_DATA_ROOT (a folder per user)")
    djk.add_argument("--userdata-url", metavar="URL",
                     help="the database of the users' collections, if djankiserv's"
                          " userdata connection is another one")
    djk.set_defaults(run=lambda args, settings: _run_import(
        args, settings, migrated, _djankiserv_users(args)))
    syncd = sources.add_parser("ankisyncd", help="ankisyncd's (anki-sync-server's) data"
                               " folder")
    syncd.add_argument("data_root", type=Path, metavar="DATA_ROOT",
                       help="its data_root (user folders here or in collections/)")
    syncd.add_argument("--auth-db", type=Path, metavar="FILE",
                       help="its auth.db (default: in DATA_ROOT or the folder above)")
    syncd.add_argument("--session-db", type=Path, metavar="FILE",
                       help="its session.db, to keep devices logged in (default: beside"
                            " auth.db's default places)")
    syncd.set_defaults(run=lambda args, settings: _run_import(
        args, settings, migrated, _ankisyncd_users(args)))
    for parser in (off, djk, syncd):
        parser.add_argument("--user", action="append", metavar="NAME", default=[],
                            help="import only this user (repeat for more)")
        parser.add_argument("--replace", action="store_true",
                            help="overwrite users that exist here already")
    off.set_defaults(run=lambda args, settings: _run_import(
        args, settings, migrated, _official_users(args, settings)))


def _official_users(args: argparse.Namespace, settings: Settings
                    ) -> Callable[[Services], list[PlannedUser]]:
    def plan(services: Services) -> list[PlannedUser]:
        try:
            variables = (official.read_env_file(args.env_file) if args.env_file
                         else dict(os.environ))
            users = official.users_from(variables)
            source = official.OfficialServerData(args.sync_base, services.accounts.hasher)
        except ImportSourceError as e:
            raise CliError(str(e)) from e
        for name in source.folders_without_user(users):
            print(f"ankiserv: {args.sync_base / name}: no SYNC_USER names this folder;"
                  " not imported", file=sys.stderr)
        return [PlannedUser(u.name, _folder_size(args.sync_base / u.name),
                            functools.partial(source.read, u)) for u in users]
    return plan


def _ankisyncd_users(args: argparse.Namespace) -> Callable[[Services], list[PlannedUser]]:
    def plan(services: Services) -> list[PlannedUser]:
        try:
            source = ankisyncd.AnkisyncdData(args.data_root, args.auth_db, args.session_db)
            users = source.users()
            unnamed = source.folders_without_user([name for name, _ in users])
        except ImportSourceError as e:
            raise CliError(str(e)) from e
        for name in unnamed:
            print(f"ankiserv: {source.users_dir / name}: no user of auth.db has this"
                  " folder; not imported", file=sys.stderr)
        if source.session_db is None:
            print("ankiserv: no session.db found: devices will log in once",
                  file=sys.stderr)
        return [PlannedUser(name, _folder_size(source.users_dir / name),
                            functools.partial(source.read, name, stored))
                for name, stored in users]
    return plan


def _djankiserv_users(args: argparse.Namespace) -> Callable[[Services], list[PlannedUser]]:
    def plan(services: Services) -> list[PlannedUser]:
        try:
            source = djankiserv.DjankiservData(args.database_url, args.media_root,
                                               args.userdata_url)
            users = source.users()
        except ImportSourceError as e:
            raise CliError(str(e)) from e
        for name, password in users:
            stored = djankiserv.django_hash(password)
            if not is_foreign(stored) and not stored.startswith("$argon2"):
                print(f"ankiserv: {name}: djankiserv's password hash of this user cannot be"
                      " checked here; give them a new one with `ankiserv user passwd`",
                      file=sys.stderr)
        return [PlannedUser(name, _folder_size(args.media_root / name),
                            functools.partial(source.read, name, password))
                for name, password in users]
    return plan


def _folder_size(folder: Path) -> int:
    if not folder.is_dir():
        return 0
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _run_import(args: argparse.Namespace, settings: Settings,
                migrated: Callable[[Settings], tuple[Services, str]],
                plan: Callable[[Services], list[PlannedUser]]) -> int:
    services, done = migrated(settings)
    try:
        planned = plan(services)
        wanted = set(args.user)
        if unknown := wanted - {p.name for p in planned}:
            raise CliError(f"no user named {', '.join(sorted(unknown))} in the source")
        planned = [p for p in planned if not wanted or p.name in wanted]
        print(done, file=sys.stderr if not sys.stdout.isatty() else sys.stdout)
        return _import_all(services, settings, planned, args.replace)
    finally:
        services.close()


def _import_all(services: Services, settings: Settings, planned: Sequence[PlannedUser],
                replace: bool) -> int:
    importer = UserImporter(uow=services.uow, hasher=services.accounts.hasher,
                            clock=services.accounts.clock, blobs=services.blobs)
    progress = Progress(len(planned), sum(p.size for p in planned))
    failed: list[str] = []
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    for user in planned:
        progress.start_user(user.name)
        with tempfile.TemporaryDirectory(dir=settings.tmp_dir) as work:
            try:
                line = _import_one(services, importer, user, Path(work), replace, progress)
            except (ImportSourceError, ImportFailed, UserExists, UploadRejected,
                    BadMediaName, ValueError) as e:
                failed.append(user.name)
                progress.finish()
                print(f"ankiserv: {user.name}: not imported: {_reason(e)}", file=sys.stderr)
                continue
        progress.user_done(line)
    progress.finish()
    imported = len(planned) - len(failed)
    print(f"imported {imported} of {len(planned)} users: {progress.notes} notes,"
          f" {progress.media_files} media files, {progress.bytes_done / MB:.1f} MB in"
          f" {progress.elapsed:.1f} s" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def _import_one(services: Services, importer: UserImporter, user: PlannedUser, work: Path,
                replace: bool, progress: Progress) -> str:
    imported, path = user.read(work)
    media_sizes = [m.entry.size for m in imported.media if m.open is not None]
    progress.add(nbytes=path.stat().st_size if path else 0)

    staged = 0

    def on_media(done: int) -> None:
        nonlocal staged
        progress.add(media_files=done - staged, nbytes=sum(media_sizes[staged:done]))
        staged = done

    notes = 0
    if path is None:
        result = importer.import_user(imported, None, replace=replace, on_media=on_media)
    else:
        notes = count_notes(path)
        with UploadedCollection(path) as contents:
            result = importer.import_user(imported, contents, replace=replace,
                                          on_media=on_media)
            schema = contents.schema
        if services.downloads is not None:  # the next full download sends this file
            services.downloads.keep(result.user, result.version, schema, path)
    progress.add(notes=notes)
    for caveat in _caveats(path is None, imported, result.host_keys):
        progress.finish()
        print(f"ankiserv: {imported.name}: {caveat}", file=sys.stderr)
    return (f"{imported.name}: {notes} notes, {result.media_files} media files,"
            f" {result.host_keys} device login(s) kept")


def _caveats(no_collection: bool, user: ImportedUser, host_keys: int) -> list[str]:
    """What the import could not carry over for this user's devices."""
    found = []
    if no_collection:
        found.append("the old server holds no collection for this user: it starts empty"
                     " (a device that did sync will be asked for a full sync)")
    if host_keys == 0:
        found.append("no device login of the old server found: devices log in once"
                     " (then go on with a normal sync)")
    elif host_keys < len(set(user.host_keys)):
        found.append(f"{len(set(user.host_keys)) - host_keys} device login(s) are held by"
                     " another user here: those devices log in once")
    return found


def _reason(error: Exception) -> str:
    if isinstance(error, UploadRejected):
        return "the collection file is corrupt or not an Anki collection"
    if isinstance(error, UserExists):
        return "a user with this name exists here already (use --replace to overwrite it)"
    if isinstance(error, SyncError | ImportSourceError):
        return str(error) or type(error).__name__
    return str(error)
