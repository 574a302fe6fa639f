"""The composition root for the web app: the only place that builds adapters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import falcon

from adapters.ankiconnect import AnkiConnectResource
from adapters.ankiconnect.url_fetch import Fetcher
from adapters.http import api, codec, djankiserv, errors, metrics, openapi
from adapters.http.api_guard import ApiGuard
from adapters.http.client_address import ClientAddress, networks
from adapters.http.log_context import LogContext
from adapters.http.media import MediaResource
from adapters.http.origin import OwnOrigin
from adapters.http.paths import PathNormaliser
from adapters.http.request_scope import RequestScope
from adapters.http.resources import HealthResource, ReadyResource, SyncResource
from adapters.http.security_headers import SecurityHeaders
from adapters.sql.schema import readiness_check
from adapters.sql.statements import compile_all
from adapters.study import STUDY_DEVICE
from adapters.study.loopback import Loopback
from adapters.study.on_first_use import StudyOnFirstUse
from adapters.study.zone_host import valid_zone
from adapters.web.account import (
    AccountPage,
    CollectionDownload,
    KeyRevocation,
    PasswordChange,
    TokenCreation,
)
from adapters.web.admin import (
    AdminChange,
    PasswordReset,
    QuotaChange,
    UserPage,
    UserRemoval,
    UsersPage,
)
from adapters.web.browse import BrowsePage
from adapters.web.decks import DecksPage
from adapters.web.forms import ErrorPages
from adapters.web.landing import AddressQrCode, LandingPage, PublicAddress
from adapters.web.login import LoginPage, LogoutAction
from adapters.web.notes import MediaFile, NewNotePage, NoteDeletion, NotePage
from adapters.web.rendering import Pages, StaticResource
from adapters.web.session import Sessions
from adapters.web.study import AnswerAction, CardFrame, StudyPage, UndoAction
from domain.api.note_search import NoteSearch
from domain.model import KeyKind
from domain.study import Study
from domain.user_export import UserExporter
from entrypoints.config import Settings, settings_from_environment
from entrypoints.services import Services, build_services, configure_logging
from ports.study import StudyCollections

WsgiApp = falcon.App[falcon.Request, falcon.Response]


def create_app(settings: Settings | None = None, *, migrate: bool = False) -> WsgiApp:
    """Build the WSGI app; gunicorn calls this once per worker."""
    settings = settings or settings_from_environment()
    configure_logging(settings)
    services = build_services(settings, migrate=migrate)
    compile_all(services.engine.dialect)
    return build_app(settings, services)


def build_app(settings: Settings, services: Services) -> WsgiApp:
    # One storage scope per request: its units of work share one pooled connection.
    metrics.count_connections(services.engine)
    client = ClientAddress(networks(settings.trusted_proxies.split(",")
                                    if settings.trusted_proxies else ()))
    middleware: list[Any] = [SecurityHeaders(), LogContext(),
                             PathNormaliser(settings.base_path), ApiGuard(OwnOrigin(client)),
                             metrics.RequestMetrics(),
                             RequestScope(services.uow.request_scope)]
    pages = Pages(settings.base_path)
    middleware.append(ErrorPages(pages))
    app = falcon.App(media_type=falcon.MEDIA_JSON, middleware=middleware)
    errors.register(app)
    limits = codec.Limits(settings.max_body_bytes, settings.max_decompressed_bytes)
    sync = SyncResource(services.server, services.accounts, limits, settings.tmp_dir,
                        services.downloads, client)
    media = MediaResource(services.media, services.accounts, services.blobs, limits,
                          settings.media_max_file_mb * 1024 * 1024, settings.tmp_dir)
    app.add_route("/sync/{method}", sync)
    app.add_route("/msync/{method}", media)
    app.add_route("/health", HealthResource())
    ready = readiness_check(services.engine)
    app.add_route("/ready", ReadyResource(ready))
    app.add_route("/metrics", metrics.MetricsResource(settings.metrics_token))
    auth = api.Auth(services.accounts, client)
    api.add_routes(app, auth, services.api, openapi.openapi)
    djankiserv.add_routes(app, auth, services.api)
    add_web_routes(app, pages, settings, services, client, ready)
    return app


def add_web_routes(app: WsgiApp, pages: Pages, settings: Settings, services: Services,
                   client: ClientAddress, ready: Callable[[], str | None]) -> None:
    address = PublicAddress(settings.public_url, OwnOrigin(client), settings.base_path)
    sessions = Sessions(services.accounts, OwnOrigin(client), client, pages.base)
    app.add_route("/", LandingPage(pages, address, ready, sessions))
    app.add_route("/login", LoginPage(pages, sessions))
    app.add_route("/logout", LogoutAction(pages, sessions))
    account = AccountPage(pages, sessions)
    app.add_route("/account", account)
    app.add_route("/account/password", PasswordChange(pages, sessions, account))
    app.add_route("/account/tokens", TokenCreation(pages, sessions, account))
    app.add_route("/account/keys/revoke", KeyRevocation(pages, sessions))
    app.add_route("/account/collection.colpkg", CollectionDownload(
        pages, sessions, UserExporter(services.uow, services.accounts.clock), services.blobs,
        settings.tmp_dir))
    app.add_route("/admin", UsersPage(pages, sessions))
    user_page = UserPage(pages, sessions)
    app.add_route("/admin/users/{user_id:int}", user_page)
    for action, resource in (("password", PasswordReset), ("quotas", QuotaChange),
                             ("admin", AdminChange), ("remove", UserRemoval)):
        app.add_route(f"/admin/users/{{user_id:int}}/{action}",
                      resource(pages, sessions, user_page))
    app.add_route("/decks", DecksPage(pages, sessions, services.api))
    app.add_route("/browse", BrowsePage(pages, sessions,
                                        NoteSearch(services.uow, services.accounts.clock)))
    def study_collections() -> StudyCollections:
        from adapters.study.anki_collection import AnkiStudyCollections

        return AnkiStudyCollections(
            settings.study_dir, Loopback(lambda: app, settings.base_path),
            lambda user: services.accounts.issue_key(user, KeyKind.SYNC, STUDY_DEVICE,
                                                     yields=True),
            lambda user: not services.server.in_progress(user),
            lambda user: valid_zone(services.api.config_value(user, "localOffset")))

    study = Study(StudyOnFirstUse(study_collections), services.accounts.clock)
    study_page = StudyPage(pages, sessions, study)
    app.add_route("/study/{deck}", study_page)
    app.add_route("/study/{deck}/answer", AnswerAction(pages, sessions, study, study_page))
    app.add_route("/study/{deck}/undo", UndoAction(pages, sessions, study))
    frames = CardFrame(study, services.media, services.blobs, pages.base)
    app.add_route("/study/frame/{frame_pass}/card/{card}/{side}", frames, suffix="card")
    app.add_route("/study/frame/{frame_pass}/media/{name}", frames, suffix="media")
    app.add_route("/notes/new", NewNotePage(pages, sessions, services.api))
    app.add_route("/notes/{nid}", NotePage(pages, sessions, services.api))
    app.add_route("/notes/{nid}/delete", NoteDeletion(pages, sessions, services.api))
    app.add_route("/media/{name}", MediaFile(pages, sessions, services.media, services.blobs))
    app.add_route("/ankiconnect", AnkiConnectResource(
        services.accounts, services.api, NoteSearch(services.uow, services.accounts.clock),
        services.media, services.blobs, allowed_origins=settings.ankiconnect_origin_list,
        allow_urls=settings.ankiconnect_fetch_urls, card_sides=study.card_sides,
        max_media_bytes=settings.media_max_file_mb * 1024 * 1024,
        fetch_url=Fetcher(allow_private=settings.ankiconnect_fetch_private)))
    app.add_route("/qr.svg", AddressQrCode(address))
    app.add_route("/static/{name}", StaticResource(pages))
