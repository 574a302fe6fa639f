"""`ankiserv`: serve, manage users and migrate the database."""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import logging
import socket
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from adapters.sql import schema
from domain.errors import NoSuchUser, UserExists
from domain.quotas import MB
from entrypoints import cli_backup, cli_imports, cli_packages
from entrypoints.cli_errors import CliError
from entrypoints.config import ConfigError, Settings, settings_from_environment
from entrypoints.services import Services, build_services, configure_logging

log = logging.getLogger("ankiserv")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = settings_from_environment()
    except ConfigError as e:
        print(f"ankiserv: invalid configuration: {e}", file=sys.stderr)
        return 2
    command: Callable[[argparse.Namespace, Settings], int] = args.run
    try:
        return command(args, settings)
    except ConfigError as e:
        print(f"ankiserv: invalid configuration: {e}", file=sys.stderr)
        return 2
    except CliError as e:
        print(f"ankiserv: {e}", file=sys.stderr)
        return 1
    except DBAPIError as e:
        if settings.log_level == "DEBUG":
            raise
        print(f"ankiserv: {_database_problem(e, settings)}", file=sys.stderr)
        return 1
    except UserExists as e:
        print(f"ankiserv: user {e} already exists", file=sys.stderr)
        return 1
    except NoSuchUser as e:
        print(f"ankiserv: no user named {e}", file=sys.stderr)
        return 1
    except ValueError as e:
        print(f"ankiserv: {e}", file=sys.stderr)
        return 1


def _version() -> str:
    try:
        return metadata.version("ankiserv")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ankiserv", description="Anki sync server")
    parser.add_argument("--version", action="version", version=f"ankiserv {_version()}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the sync server under gunicorn")
    serve.add_argument(
        "--bind", help="HOST:PORT to listen on (default from settings), or fd://N, unix:PATH"
    )
    serve.add_argument("--workers", type=int, help="number of worker processes")
    serve.set_defaults(run=_serve)

    user = commands.add_parser("user", help="manage users").add_subparsers(
        required=True, metavar="ACTION"
    )
    for name, run, text in (
        ("add", _user_add, "create a user (password from the terminal or stdin)"),
        ("passwd", _user_passwd, "change a password and log out every device"),
        ("remove", _user_remove, "delete a user and all their data"),
    ):
        action = user.add_parser(name, help=text)
        action.add_argument("name")
        action.set_defaults(run=run)
        if name == "remove":
            action.add_argument("--yes", action="store_true",
                                help="do not ask for confirmation (needed off a terminal)")
        if name == "add":
            action.add_argument("--admin", action="store_true",
                                help="the user may manage users in the web app")
    admin = user.add_parser("admin", help="let a user manage users in the web app"
                            " (--off: no longer)")
    admin.add_argument("name")
    admin.add_argument("--off", action="store_true", help="take the right away")
    admin.set_defaults(run=_user_admin)
    listing = user.add_parser("list", help="list users (--details: what each stores)")
    listing.add_argument("--details", action="store_true",
                         help="notes, cards, reviews, note text and media size, devices"
                              " logged in, last sync")
    listing.set_defaults(run=_user_list)
    quota = user.add_parser("quota", help="show or set a user's quotas (MB; 0: no limit;"
                            " 'default': the server's)")
    quota.add_argument("name")
    quota.add_argument("--collection-mb", type=_quota_value, metavar="MB|default")
    quota.add_argument("--media-mb", type=_quota_value, metavar="MB|default")
    quota.set_defaults(run=_user_quota)
    cli_packages.add_user_actions(user, _existing)

    cli_imports.add_import_commands(commands, _migrated)
    cli_backup.add_backup_commands(commands, _shown)

    db = commands.add_parser("db", help="database maintenance").add_subparsers(
        required=True, metavar="ACTION"
    )
    db.add_parser("upgrade", help="apply database migrations").set_defaults(run=_db_upgrade)
    return parser


def read_password(prompt: str = "Password: ") -> str:
    """Prompt twice on a terminal; otherwise take the first line of stdin."""
    if sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if getpass.getpass("Repeat password: ") != first:
            raise ValueError("passwords do not match")
        password = first
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise ValueError("the password must not be empty")
    return password


def _shown(settings: Settings) -> str:
    """The database URL as it may be printed: without its password."""
    return make_url(settings.effective_database_url).render_as_string(hide_password=True)


def _database_problem(error: DBAPIError, settings: Settings) -> str:
    cause = str(error.orig).strip().splitlines() or ["unknown error"]
    setting = ("ANKISERV_DATABASE_URL" if settings.database_url
               else "ANKISERV_DATA_DIR or ANKISERV_DATABASE_URL")
    return f"cannot use the database {_shown(settings)}: {cause[0].strip()} (check {setting})"


def _existing(settings: Settings) -> Services:
    """The services on a database that holds ankiserv's current schema. Creates nothing:
    a command run in the wrong place or against the wrong database says so instead."""
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        raise CliError(f"there is no ankiserv database at {url.database}: check"
                       " ANKISERV_DATA_DIR or ANKISERV_DATABASE_URL, or create it with"
                       " `ankiserv db upgrade`")
    services = build_services(settings, create_data_dir=False)
    try:
        current, newest = schema.revision(services.engine), schema.newest(services.engine)
        if current is None:
            raise CliError(f"the database {_shown(settings)} has no ankiserv schema: check"
                           " ANKISERV_DATABASE_URL, or create it with `ankiserv db upgrade`")
        if current != newest:
            raise CliError(f"the database {_shown(settings)} is at schema {current}, this"
                           f" version needs {newest}: run `ankiserv db upgrade`")
    except BaseException:
        services.close()
        raise
    return services


def _migrated(settings: Settings) -> tuple[Services, str]:
    """The services after bringing the schema up to date, and what that did."""
    services = build_services(settings)
    try:
        before = schema.revision(services.engine)
        distributed = schema.upgrade(services.engine)
        after = schema.revision(services.engine)
    except BaseException:
        services.close()
        raise
    if before is None:
        done = f"created the ankiserv schema (revision {after})"
    elif before != after:
        done = f"upgraded the schema from revision {before} to {after}"
    else:
        done = f"the schema is up to date (revision {after})"
    if distributed:
        done += f"; on Citus, distributed {len(distributed)} tables by user_id"
    return services, f"database {_shown(settings)}: {done}"


def _user_add(args: argparse.Namespace, settings: Settings) -> int:
    services = _existing(settings)
    password = read_password()
    services.accounts.add_user(args.name, password, admin=args.admin)
    print(f"user {args.name.strip()} added" + (" as an administrator" if args.admin else ""))
    return 0


def _user_admin(args: argparse.Namespace, settings: Settings) -> int:
    services = _existing(settings)
    services.accounts.set_admin(args.name, not args.off)
    print(f"user {args.name.strip()} " + ("is no longer an administrator" if args.off
                                          else "is an administrator"))
    return 0


def _user_passwd(args: argparse.Namespace, settings: Settings) -> int:
    services = _existing(settings)
    password = read_password("New password: ")
    services.accounts.set_password(args.name, password)
    print(f"password of {args.name.strip()} changed; its devices must log in again")
    return 0


def _user_remove(args: argparse.Namespace, settings: Settings) -> int:
    services = _existing(settings)
    name = args.name.strip()
    if not any(u.name == name for u in services.accounts.users()):
        raise NoSuchUser(name)
    if not args.yes:
        if not sys.stdin.isatty():
            raise CliError(f"not removing {name}: confirm on a terminal, or pass --yes")
        answer = input(f"Remove user {name} and all their data (collection, media, devices)?"
                       " Type yes to confirm: ")
        if answer.strip().lower() != "yes":
            print(f"user {name} kept")
            return 1
    services.accounts.remove_user(args.name)
    print(f"user {name} removed with all their data")
    return 0


def _user_list(args: argparse.Namespace, settings: Settings) -> int:
    accounts = _existing(settings).accounts
    if not args.details:
        for user in accounts.users():
            print(user.name + (" (admin)" if user.admin else ""))
        return 0
    print("\t".join(("name", "notes", "cards", "reviews", "note_text_mb", "media_mb",
                     "devices", "last_sync_utc", "admin")))
    for u in accounts.usage():
        synced = (datetime.fromtimestamp(u.last_sync_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")
                  if u.last_sync_ms else "-")
        print("\t".join((u.name, str(u.notes), str(u.cards), str(u.reviews),
                         f"{u.note_text_bytes / MB:.1f}", f"{u.media_bytes / MB:.1f}",
                         str(u.devices), synced, "yes" if u.admin else "no")))
    return 0


_DEFAULT = -1  # "default" on the command line: the server's quota applies


def _quota_value(text: str) -> int:
    if text == "default":
        return _DEFAULT
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"a number of MB or 'default', not {text!r}")
    return int(text)


def _user_quota(args: argparse.Namespace, settings: Settings) -> int:
    accounts = _existing(settings).accounts
    own = accounts.quotas(args.name)
    given = {"collection_mb": args.collection_mb, "media_mb": args.media_mb}
    if any(v is not None for v in given.values()):
        changes = {k: (None if v == _DEFAULT else v) for k, v in given.items() if v is not None}
        own = accounts.set_quotas(args.name, dataclasses.replace(own, **changes))
    for what, mine, default in (("collection", own.collection_mb, settings.quota_collection_mb),
                                ("media", own.media_mb, settings.quota_media_mb)):
        mb = default if mine is None else mine
        limit = "no limit" if mb == 0 else f"{mb} MB"
        print(f"{what}: {limit}" + (" (server default)" if mine is None else ""))
    return 0


def _db_upgrade(_args: argparse.Namespace, settings: Settings) -> int:
    services, done = _migrated(settings)
    services.close()
    print(done)
    return 0


def ensure_initial_user(services: Services, spec: str) -> None:
    """Create the `name:password` user from settings, or update a changed password."""
    name, _, password = spec.partition(":")
    try:
        services.accounts.add_user(name, password)
        log.info("created user %s", name)
    except UserExists:
        if services.accounts.check_password(name, password):
            return
        services.accounts.set_password(name, password)
        log.info("updated the password of user %s", name)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    raw_bind = args.bind if args.bind and args.bind.startswith(("fd://", "unix:")) else None
    if args.bind and raw_bind is None:
        host, _, port = args.bind.rpartition(":")
        settings = Settings.from_mapping(
            {**_as_mapping(settings), "host": host.strip("[]") or settings.host, "port": port}
        )
    if args.workers is not None:
        settings = Settings.from_mapping({**_as_mapping(settings), "workers": args.workers})
    configure_logging(settings)
    _check_writable(settings)
    if raw_bind is None:
        _check_free(settings.host, settings.port)
    services, done = _migrated(settings)
    log.info("%s", done)
    if settings.user:
        ensure_initial_user(services, settings.user)
    services.close()
    from entrypoints.gunicorn_app import run

    run(settings, bind=raw_bind)
    return 0


def _check_writable(settings: Settings) -> None:
    """Found at start, not at the first upload: directories the server must write to."""
    for setting, path in (("ANKISERV_DATA_DIR", settings.data_dir),
                          ("ANKISERV_MEDIA_DIR", settings.effective_media_dir)):
        try:
            path.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=path):
                pass
        except OSError as e:
            raise CliError(f"cannot write to {path}: {e.strerror} (check {setting})") from None


def _check_free(host: str, port: int) -> None:
    """A port another process listens on is one clear line, not gunicorn's retries."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as e:
            raise CliError(f"cannot listen on {host}:{port}: {e.strerror} (check"
                           " ANKISERV_HOST and ANKISERV_PORT, or --bind)") from None


def _as_mapping(settings: Settings) -> dict[str, Any]:
    from dataclasses import asdict

    return {k: v for k, v in asdict(settings).items() if v is not None}
