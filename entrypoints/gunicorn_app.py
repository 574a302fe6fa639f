"""Run the WSGI app under gunicorn from `ankiserv serve`."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.config import KNOWN_SETTINGS

from adapters.http.client_address import networks
from entrypoints import gunicorn_worker, logs
from entrypoints.config import Settings

# A full upload of a large collection can take minutes on a slow link.
REQUEST_TIMEOUT_S = 600
# Longer than clients keep idle connections (reqwest, inside Anki: 90 s). With gunicorn's
# default of 2 s a client that paused (e.g. to close a big collection before a full
# upload) could send its next request just as the server closed the connection, and
# fail with "error sending request".
KEEPALIVE_S = 120


class _Application(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings, bind: str | None) -> None:
        self._settings = settings
        self._bind = bind
        super().__init__()

    def load_config(self) -> None:
        for key, value in gunicorn_options(self._settings, self._bind).items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from entrypoints.wsgi import create_app

        return_big_allocations_to_the_system()
        return create_app(self._settings)


M_MMAP_THRESHOLD = -3  # glibc mallopt parameter
MMAP_THRESHOLD_BYTES = 1 << 20


def return_big_allocations_to_the_system() -> None:
    """Serve allocations of 1 MiB and more with their own mappings, freed at once.

    Each argon2 password check allocates 19 MiB. glibc raises its mmap threshold after
    the first such free, so later ones come from per-thread arenas and stay resident:
    about 20 MiB per worker thread that ever handled a login. A fixed threshold keeps
    a worker's memory flat however many users log in."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to tune


def gunicorn_options(settings: Settings, bind: str | None) -> dict[str, Any]:
    """gunicorn's settings for ankiserv (`ankiserv serve`, and `gunicorn_conf` for running
    gunicorn yourself); `bind` overrides host and port."""
    host = settings.host
    default_bind = f"[{host}]:{settings.port}" if ":" in host else f"{host}:{settings.port}"
    options: dict[str, Any] = {
        "bind": bind or default_bind,
        "workers": settings.workers,
        "worker_class": gunicorn_worker.worker_class(arrival_limits(settings)),
        "threads": settings.threads,
        "timeout": REQUEST_TIMEOUT_S,
        "keepalive": KEEPALIVE_S,
        "graceful_timeout": 30,
        "loglevel": settings.log_level.lower(),
        "errorlog": "-",
        "logconfig_dict": logs.gunicorn_config(settings.log_level, settings.log_format),
        "logger_class": logs.GunicornLogger,
        "child_exit": _child_exit,
    }
    if settings.access_log:
        options["accesslog"] = "-"  # one line per request: eight per sync
    if "control_socket_disable" in {s.name for s in KNOWN_SETTINGS}:
        # gunicorn >= 24 opens a control socket at a fixed path; several servers would clash.
        options["control_socket_disable"] = True
    return options


def arrival_limits(settings: Settings) -> gunicorn_worker.ArrivalLimits:
    proxies = settings.trusted_proxies.split(",") if settings.trusted_proxies else ()
    return gunicorn_worker.ArrivalLimits(
        arrival_timeout_s=settings.request_arrival_timeout_s,
        max_arriving_per_address=settings.max_arriving_per_address,
        max_body_bytes=settings.max_body_bytes,
        spool_dir=settings.tmp_dir / "requests",
        exempt=networks(proxies))


def _child_exit(_server: Any, worker: Any) -> None:
    """A worker is gone: its live gauges no longer count (its counters still do)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def prepare_metrics(settings: Settings) -> None:
    """Workers share their metrics through files in a fresh directory: set it up before
    any worker (or anything importing prometheus_client) starts."""
    for old in settings.tmp_dir.glob("metrics-*"):  # of servers no longer running
        pid = old.name.removeprefix("metrics-")
        if not pid.isdecimal() or not _running(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    folder = settings.tmp_dir / f"metrics-{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def run(settings: Settings, bind: str | None = None) -> None:
    """Serve until stopped; `bind` overrides host and port (e.g. "fd://3")."""
    prepare_metrics(settings)
    _Application(settings, bind).run()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
