"""`ankiserv backup DIR` and `ankiserv restore DIR`: the whole server, while it serves.

A backup folder holds `manifest.json`, `db/<table>.jsonl.gz` (every user's rows from one
snapshot) and `media/<user>/<xx>/<sha1>` (the media files that snapshot refers to). The
blobs are copied before the snapshot and again after it, so every file the snapshot
refers to is there even if a sync replaced it meanwhile.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from adapters.media.filesystem import FilesystemBlobStore
from adapters.sql import backup as db_backup
from adapters.sql.dialects import build_engine
from entrypoints.cli_errors import CliError
from entrypoints.config import Settings
from entrypoints.progress import MB, Progress

FORMAT = "ankiserv-backup"
FORMAT_VERSION = 1
SNAPSHOT_TRIES = 3


def add_backup_commands(commands: Any, shown: Callable[[Settings], str]) -> None:
    backup = commands.add_parser("backup", help="write a consistent copy of every user's"
                                 " data and media to a new folder, while serving")
    backup.add_argument("folder", type=Path, metavar="DIR")
    backup.set_defaults(run=_backup)
    restore = commands.add_parser("restore", help="fill an empty database and media folder"
                                  " from a backup folder")
    restore.add_argument("folder", type=Path, metavar="DIR")
    restore.add_argument("--keep-sync-state", action="store_true",
                         help="let devices go on with normal syncs (only when no device"
                              " synced after the backup, e.g. when moving a server)")
    restore.set_defaults(run=lambda args, settings: _restore(args, settings, shown))


def _version() -> str:
    try:
        return metadata.version("ankiserv")
    except metadata.PackageNotFoundError:
        return "unknown"


def _backup(args: argparse.Namespace, settings: Settings) -> int:
    target: Path = args.folder
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise CliError(f"{target} exists and is not an empty folder")
    if not target.parent.is_dir():
        raise CliError(f"cannot write {target}: {target.parent} is not a folder")
    _require_database(settings)
    work = target.parent / f".{target.name}.partial-{os.getpid()}"
    engine = build_engine(settings.effective_database_url)
    blobs = FilesystemBlobStore(settings.effective_media_dir)
    progress = Progress(0, 1)
    try:
        media_root = work / "media"
        progress.start_user("copying media")
        copied = {b for b in blobs.blob_names() if blobs.copy_blob(*b, media_root)}
        manifest = _snapshot(engine, blobs, work, media_root, copied, progress)
        (work / "manifest.json").write_text(json.dumps(manifest, indent=2))
        if target.exists():
            target.rmdir()
        os.replace(work, target)
    finally:
        progress.finish()
        engine.dispose()
        shutil.rmtree(work, ignore_errors=True)
    print(f"backup written to {target}: {len(manifest['users'])} users,"
          f" {manifest['tables'].get('notes', 0)} notes, {manifest['media_files']} media"
          f" files ({manifest['media_bytes'] / MB:.1f} MB) in {progress.elapsed:.1f} s")
    return 0


def _snapshot(engine: Any, blobs: FilesystemBlobStore, work: Path, media_root: Path,
              copied: set[tuple[int, str]], progress: Progress) -> dict[str, Any]:
    """Dump the database; copy the files it refers to that appeared since; retry with a
    new snapshot if one of them was already replaced again."""
    for _ in range(SNAPSHOT_TRIES):
        shutil.rmtree(work / "db", ignore_errors=True)
        progress.start_user("database")
        revision, counts, wanted = db_backup.dump(
            engine, work / "db", lambda n: progress.add(rows=n))
        missing = [b for b in wanted - copied if blobs.copy_blob(*b, media_root) is None]
        copied |= wanted - set(missing)  # a blob gone meanwhile is not in the copy
        if missing:
            continue
        size = 0
        for user, sha1 in copied - wanted:  # not part of this snapshot
            (media_root / str(user) / sha1[:2] / sha1).unlink(missing_ok=True)
        for user, sha1 in wanted:
            size += (media_root / str(user) / sha1[:2] / sha1).stat().st_size
        users = sorted(_user_ids(work / "db"))
        return {"format": FORMAT, "format_version": FORMAT_VERSION,
                "ankiserv": _version(), "schema_revision": revision,
                "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
                "tables": counts, "users": users, "media_files": len(wanted),
                "media_bytes": size}
    raise CliError("media kept changing while the backup was taken; try again")


def _user_ids(db: Path) -> set[int]:
    with gzip.open(db / "users.jsonl.gz", "rt", encoding="utf-8") as rows:
        return {int(json.loads(line)[0]) for line in rows}


def _require_database(settings: Settings) -> None:
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        raise CliError(f"there is no ankiserv database at {url.database}: check"
                         " ANKISERV_DATA_DIR or ANKISERV_DATABASE_URL")


def _manifest(folder: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise CliError(f"{folder} is not an ankiserv backup (no readable"
                         " manifest.json)") from e
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CliError(f"{folder} is not an ankiserv backup")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise CliError(f"{folder} is a backup of format {manifest.get('format_version')},"
                         f" this ankiserv reads format {FORMAT_VERSION}")
    return manifest


def _restore(args: argparse.Namespace, settings: Settings,
             shown: Callable[[Settings], str]) -> int:
    folder: Path = args.folder
    manifest = _manifest(folder)
    media_dir = settings.effective_media_dir
    blobs = FilesystemBlobStore(media_dir)
    if not blobs.is_empty():
        raise CliError(f"the media folder {media_dir} is not empty: restore into an empty"
                         " one")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = build_engine(settings.effective_database_url)
    progress = Progress(0, int(manifest.get("media_bytes", 0)) or 1)
    try:
        db_backup.check_empty(engine)
        progress.start_user("media")
        source = FilesystemBlobStore(folder / "media")
        for user, sha1 in sorted(source.blob_names()):
            size = source.copy_blob(user, sha1, media_dir)
            progress.add(media_files=1, nbytes=size or 0)
        blobs.sync_all()
        progress.start_user("database")
        try:
            db_backup.load(engine, folder / "db", str(manifest["schema_revision"]),
                           dict(manifest.get("tables", {})), lambda n: progress.add(rows=n))
        except BaseException:
            for user in {u for u, _ in source.blob_names()}:
                shutil.rmtree(media_dir / str(user), ignore_errors=True)
            raise
        if not args.keep_sync_state:
            db_backup.require_full_syncs(engine, int(time.time() * 1000))
    except db_backup.RestoreRefused as e:
        raise CliError(f"cannot restore into {shown(settings)}: {e}") from e
    finally:
        progress.finish()
        engine.dispose()
    then = ("devices go on with normal syncs" if args.keep_sync_state
            else "each device will be asked for a full sync")
    print(f"restored {len(manifest.get('users', []))} users and"
          f" {manifest.get('media_files', 0)} media files from {folder} into"
          f" {shown(settings)}; {then}")
    return 0
