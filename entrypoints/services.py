"""Build the database engine and the domain services (shared by the CLI and the web app)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from adapters.ankifile.download_cache import DownloadCache
from adapters.auth.passwords import Argon2PasswordHasher
from adapters.media.filesystem import FilesystemBlobStore
from adapters.sql import schema
from adapters.sql.dialects import build_engine
from adapters.sql.uow import SqlUnitOfWorkFactory
from adapters.study.folders import AllUserFiles, StudyFolders
from adapters.system import SecretsTokenSource, SystemClock
from domain.accounts import Accounts
from domain.api.service import CollectionApi
from domain.media_server import MediaServer
from domain.quotas import QuotaDefaults
from domain.sync.server import SyncServer
from entrypoints import logs
from entrypoints.config import Settings


@dataclass
class Services:
    engine: Engine
    uow: SqlUnitOfWorkFactory
    accounts: Accounts
    server: SyncServer
    media: MediaServer
    blobs: FilesystemBlobStore
    api: CollectionApi
    downloads: DownloadCache | None = None

    def close(self) -> None:
        """Give back the connection this thread kept between requests, then close all."""
        self.uow.release_connections()
        self.engine.dispose()


def build_services(
    settings: Settings, *, migrate: bool = False, create_data_dir: bool = True
) -> Services:
    """Connect to the database and wire the domain services."""
    if create_data_dir:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = build_engine(settings.effective_database_url)
    if migrate:
        schema.upgrade(engine)
    uow = SqlUnitOfWorkFactory(engine)
    clock = SystemClock()
    blobs = FilesystemBlobStore(settings.effective_media_dir)
    downloads = DownloadCache(settings.downloads_dir) if settings.download_cache else None
    accounts = Accounts(
        uow=uow, hasher=Argon2PasswordHasher(), clock=clock, tokens=SecretsTokenSource(),
        blobs=blobs, throttle=settings.login_throttle,
        files=AllUserFiles(tuple(f for f in (downloads, StudyFolders(settings.study_dir))
                                 if f is not None)),
        quota_defaults=QuotaDefaults(settings.quota_collection_mb, settings.quota_media_mb),
    )
    logs.name_users_with(accounts.user_name)
    return Services(
        engine=engine, uow=uow, accounts=accounts, server=SyncServer(uow=uow, clock=clock),
        media=MediaServer(uow=uow, blobs=blobs, default_media_mb=settings.quota_media_mb),
        blobs=blobs,
        api=CollectionApi(uow=uow, clock=clock, tokens=SecretsTokenSource()),
        downloads=downloads,
    )


def configure_logging(settings: Settings) -> None:
    logs.configure(settings.log_level_number(), settings.log_format)
