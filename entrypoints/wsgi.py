"""The composition root for the web app: the only place that builds adapters."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import falcon
from sqlalchemy import Engine

from adapters.auth.passwords import Argon2PasswordHasher
from adapters.http import codec, errors
from adapters.http.resources import HealthResource, SyncResource
from adapters.sql import schema
from adapters.sql.dialects import build_engine
from adapters.sql.uow import SqlUnitOfWorkFactory
from adapters.system import SecretsTokenSource, SystemClock
from domain.accounts import Accounts
from domain.sync.server import SyncServer
from entrypoints.config import Settings, settings_from_environment

WsgiApp = falcon.App[falcon.Request, falcon.Response]


@dataclass
class Services:
    engine: Engine
    accounts: Accounts
    server: SyncServer


def build_services(settings: Settings, *, migrate: bool = False) -> Services:
    """Connect to the database and wire the domain services."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = build_engine(settings.effective_database_url)
    if migrate:
        schema.upgrade(engine)
    uow = SqlUnitOfWorkFactory(engine)
    clock = SystemClock()
    accounts = Accounts(
        uow=uow, hasher=Argon2PasswordHasher(), clock=clock, tokens=SecretsTokenSource()
    )
    return Services(engine=engine, accounts=accounts, server=SyncServer(uow=uow, clock=clock))


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level_number(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("ankiserv").setLevel(settings.log_level_number())


def create_app(settings: Settings | None = None, *, migrate: bool = False) -> WsgiApp:
    """Build the WSGI app; gunicorn calls this once per worker."""
    settings = settings or settings_from_environment()
    configure_logging(settings)
    services = build_services(settings, migrate=migrate)
    return build_app(settings, services)


def build_app(settings: Settings, services: Services) -> WsgiApp:
    app = falcon.App(media_type=falcon.MEDIA_JSON)
    app.req_options.strip_url_path_trailing_slash = True
    errors.register(app)
    limits = codec.Limits(settings.max_body_bytes, settings.max_decompressed_bytes)
    sync = SyncResource(services.server, services.accounts, limits, settings.tmp_dir)
    base = settings.base_path.rstrip("/")
    app.add_route(f"{base}/sync/{{method}}", sync)
    app.add_route(f"{base}/health", HealthResource())
    return app
