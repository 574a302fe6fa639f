"""Prometheus metrics: requests, sync steps, full syncs, media, logins, conflicts, client
versions and database connections, served at `/metrics` in the text format.

Under gunicorn every worker is a process of its own: `ankiserv serve` points
`PROMETHEUS_MULTIPROC_DIR` at a fresh directory before any worker starts, each worker
writes its values there, and `/metrics` adds them up (prometheus-client's multiprocess
mode). Without that variable (tests, a single process) the values live in this process.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

import falcon
import prometheus_client
from prometheus_client import Counter, Gauge, Histogram, multiprocess
from sqlalchemy import Engine, event

from domain.errors import AuthFailed, LoginThrottled

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_log = logging.getLogger("ankiserv.auth")
# Steps of a sync and of a media sync: a fixed set, so label values stay few.
SYNC_STEPS = ("hostKey", "meta", "upload", "download", "start", "applyGraves",
              "applyChanges", "chunk", "applyChunk", "sanityCheck2", "finish", "abort")
MEDIA_STEPS = ("begin", "mediaChanges", "uploadChanges", "downloadFiles", "mediaSanity")
_STEP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
                 30, 60, 300)

REQUESTS = Counter("ankiserv_http_requests_total", "HTTP requests answered",
                   ["endpoint", "status"])
STEP_SECONDS = Histogram("ankiserv_sync_step_seconds", "Time to answer one sync or media"
                         " sync request", ["step"], buckets=_STEP_BUCKETS)
FULL_SYNC_BYTES = Counter("ankiserv_full_sync_bytes_total", "Collection bytes of full"
                          " uploads and downloads", ["direction"])
FULL_SYNC_SECONDS = Histogram("ankiserv_full_sync_seconds", "Time of full uploads and"
                              " downloads", ["direction"], buckets=_STEP_BUCKETS)
MEDIA_BYTES = Counter("ankiserv_media_bytes_total", "Media sync bytes (zip bodies)",
                      ["direction"])
LOGINS = Counter("ankiserv_logins_total", "Login attempts by result", ["result"])
CONFLICTS = Counter("ankiserv_sync_conflicts_total", "Requests answered 409: another"
                    " device is syncing")
SYNCS_BY_CLIENT = Counter("ankiserv_syncs_total", "Syncs begun (meta requests) by client",
                          ["client"])
REFUSED_ON_ARRIVAL = Counter("ankiserv_requests_refused_on_arrival_total", "Requests refused"
                             " while arriving: too slow (408), or too many from one address"
                             " (429)", ["reason"])
DB_CONNECTIONS = Gauge("ankiserv_db_connections_in_use", "Database connections checked"
                       " out of the pool", multiprocess_mode="livesum")


T = TypeVar("T")


def counted_login(login: Callable[[], T], name: str = "", client: str = "") -> T:
    """Run a login, counting it as ok, failed or throttled; failures are logged with the
    name tried, if given, and the client's address (for tools that ban addresses)."""
    who = f" for {name!r}" if name else ""
    try:
        result = login()
    except LoginThrottled:
        LOGINS.labels("throttled").inc()
        _log.info("throttled login%s from %s", who, client or "?")
        raise
    except AuthFailed:
        LOGINS.labels("failed").inc()
        _log.info("failed login%s from %s", who, client or "?")
        raise
    LOGINS.labels("ok").inc()
    return result


def client_name(version: str) -> str:
    """The client's name and release from its version string, without build hash or
    platform (`26.09.3,29bb700b,linux` -> `26.09.3`, `ankidroid,2.16.5,…` -> `ankidroid
    2.16.5`): few enough values to count by."""
    parts = [p.strip() for p in version.split(",") if p.strip()]
    if not parts:
        return "unknown"
    first = parts[0].split(" ")[0][:20]
    if any(ch.isdigit() for ch in first) or len(parts) == 1:
        return first
    return f"{first} {parts[1].split(' ')[0][:20]}"


def endpoint_of(req: falcon.Request) -> str:
    """A bounded label for the request: the route, with the sync step where it has one."""
    template = req.uri_template or "unknown"
    step = req.context.get("metrics_step")
    return f"{template}:{step}" if step else template


class RequestMetrics:
    """Falcon middleware: count every answer, time every sync and media step."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.metrics_start = time.perf_counter()

    def process_resource(self, req: falcon.Request, resp: falcon.Response, resource: object,
                         params: dict[str, Any]) -> None:
        step = params.get("method")
        if step in SYNC_STEPS or step in MEDIA_STEPS:
            req.context.metrics_step = step

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: object,
                         req_succeeded: bool) -> None:
        status = int(str(resp.status).split(" ", 1)[0]) if resp.status else 200
        REQUESTS.labels(endpoint_of(req), str(status)).inc()
        step = req.context.get("metrics_step")
        if not step:
            return
        if status == 409:
            CONFLICTS.inc()
        STEP_SECONDS.labels(step).observe(time.perf_counter() - req.context.metrics_start)


def count_connections(engine: Engine) -> None:
    """Keep `ankiserv_db_connections_in_use` up to date from the pool's events."""

    @event.listens_for(engine, "checkout")
    def _out(*_: Any) -> None:
        DB_CONNECTIONS.inc()

    @event.listens_for(engine, "checkin")
    def _in(*_: Any) -> None:
        DB_CONNECTIONS.dec()


def exposition() -> bytes:
    """Every metric, in Prometheus's text format (all workers' values added up)."""
    if os.environ.get(MULTIPROC_ENV):
        registry = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return bytes(prometheus_client.generate_latest(registry))
    return bytes(prometheus_client.generate_latest())


class MetricsResource:
    """`GET /metrics`; with a token set, only for `Authorization: Bearer <token>`."""

    def __init__(self, token: str = "") -> None:
        self._token = token

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        given = req.get_header("Authorization") or ""
        if self._token and not hmac.compare_digest(given.encode(),
                                                   f"Bearer {self._token}".encode()):
            raise falcon.HTTPUnauthorized(
                title="Unauthorized", description="a metrics token is required",
                headers={"WWW-Authenticate": "Bearer"})
        resp.content_type = prometheus_client.CONTENT_TYPE_LATEST
        resp.data = exposition()
