"""`ankiserv`: serve, manage users and migrate the database."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from domain.errors import NoSuchUser, UserExists
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
    except UserExists as e:
        print(f"ankiserv: user {e} already exists", file=sys.stderr)
        return 1
    except NoSuchUser as e:
        print(f"ankiserv: no user named {e}", file=sys.stderr)
        return 1
    except ValueError as e:
        print(f"ankiserv: {e}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ankiserv", description="Anki sync server")
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
    user.add_parser("list", help="list users").set_defaults(run=_user_list)

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


def _services(settings: Settings) -> Services:
    return build_services(settings, migrate=True)


def _user_add(args: argparse.Namespace, settings: Settings) -> int:
    password = read_password()
    _services(settings).accounts.add_user(args.name, password)
    print(f"user {args.name.strip()} added")
    return 0


def _user_passwd(args: argparse.Namespace, settings: Settings) -> int:
    password = read_password("New password: ")
    _services(settings).accounts.set_password(args.name, password)
    print(f"password of {args.name.strip()} changed; its devices must log in again")
    return 0


def _user_remove(args: argparse.Namespace, settings: Settings) -> int:
    _services(settings).accounts.remove_user(args.name)
    print(f"user {args.name.strip()} removed with all their data")
    return 0


def _user_list(_args: argparse.Namespace, settings: Settings) -> int:
    for user in _services(settings).accounts.users():
        print(user.name)
    return 0


def _db_upgrade(_args: argparse.Namespace, settings: Settings) -> int:
    build_services(settings, migrate=True)
    print("database schema is up to date")
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
    services = _services(settings)
    if settings.user:
        ensure_initial_user(services, settings.user)
    services.close()
    from entrypoints.gunicorn_app import run

    run(settings, bind=raw_bind)
    return 0


def _as_mapping(settings: Settings) -> dict[str, Any]:
    from dataclasses import asdict

    return {k: v for k, v in asdict(settings).items() if v is not None}
