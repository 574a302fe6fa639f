"""Start the servers a benchmark compares: ankiserv (SQLite, PostgreSQL or Citus) and the
official one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from adapters.sql.dialects import normalise_url
from entrypoints.config import Settings
from entrypoints.services import build_services
from tests.support import processes
from tests.support.server import start_server, stop_process

BENCH_USERS = 40
PASSWORD = "bench-pass"
CITUS_URL = "BENCH_CITUS_URL"  # a Citus coordinator, e.g. postgresql://postgres@host:9700/postgres


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    users: list[str] = field(default_factory=list)
    cleanup: list[str] = field(default_factory=list)
    backends: list[Server] = field(default_factory=list)  # behind a load balancer

    @property
    def endpoint(self) -> str:
        return self.url + "/"

    def pids(self) -> list[int]:
        """The server process and its children (gunicorn workers), and those of the
        servers behind it when it is a load balancer."""
        return [*processes.with_children(self.process.pid),
                *(pid for backend in self.backends for pid in backend.pids())]

    def rss_bytes(self) -> int:
        return processes.rss_bytes(self.pids())

    def stop(self) -> None:
        stop_process(self.process)
        for backend in self.backends:
            backend.stop()
        for url in self.cleanup:
            _drop_database(url)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError(f"server at {url} exited")
        try:
            with urllib.request.urlopen(url + "/health", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server at {url} did not start")


def official(work: Path, n_users: int = BENCH_USERS) -> Server:
    port = _free_port()
    users = [f"bench{i}" for i in range(1, n_users + 1)]
    env = {**os.environ, "SYNC_HOST": "127.0.0.1", "SYNC_PORT": str(port),
           "SYNC_BASE": str(work / "official"), "RUST_LOG": "anki=warn"}
    env.update({f"SYNC_USER{i}": f"{u}:{PASSWORD}" for i, u in enumerate(users, 1)})
    log = (work / "official.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "anki.syncserver"], env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    _wait(url, process)
    return Server("official", url, process, users)


def _create_database(admin_url: str) -> str:
    name = f"ankiserv_bench_{uuid.uuid4().hex[:10]}"
    url = make_url(admin_url)
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def citus_admin_url() -> str:
    url = os.environ.get(CITUS_URL, "")
    if not url:
        raise RuntimeError(f"the citus servers need {CITUS_URL}, a Citus coordinator's URL "
                           "(e.g. postgresql://postgres@127.0.0.1:9700/postgres)")
    return url


def _create_schema(admin_url: str) -> str:
    """On a Citus coordinator, a schema of its own stands for a database (a new database
    would need the extension and the workers registered anew): the URL makes it the search
    path, and names ankiserv's connections after it (`Database` in benchmarks.load finds
    them, and what they run on the workers, by that name)."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    url = make_url(normalise_url(admin_url))
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    engine.dispose()
    return url.update_query_dict({"options": f"-csearch_path={name}",
                                  "application_name": name}).render_as_string(
                                      hide_password=False)


def citus_schema(url: str) -> str | None:
    """The schema a Citus benchmark URL works in; None for any other URL."""
    options = str(make_url(url).query.get("options", "")).split()
    return next((o.split("=", 1)[1] for o in options if o.startswith("-csearch_path=")), None)


def _drop_database(url: str) -> None:
    parsed = make_url(url)
    schema = citus_schema(url)
    admin = parsed if schema else parsed.set(database="postgres")
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE' if schema else
                          f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    engine.dispose()


def ankiserv(work: Path, backend: str, workers: int = 2, n_users: int = BENCH_USERS,
             pg_admin: str = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
             env: dict[str, str] | None = None, name: str | None = None) -> Server:
    """ankiserv as `ankiserv serve` runs it with default settings (plus `env`); on
    `citus`, in a schema of its own on the coordinator `BENCH_CITUS_URL` names, which
    `serve` distributes (as `ankiserv db upgrade` does)."""
    data = work / f"ankiserv-{backend}-{uuid.uuid4().hex[:6]}"
    cleanup = []
    if backend == "sqlite":
        db_url = f"sqlite:///{data / 'ankiserv.db'}"
    elif backend == "citus":
        db_url = _create_schema(citus_admin_url())
        cleanup.append(db_url)
    else:
        db_url = _create_database(pg_admin)
        cleanup.append(db_url)
    running = start_server(data, db_url, workers=workers, ANKISERV_ACCESS_LOG="0",
                           **(env or {}))
    users = [f"bench{i}" for i in range(1, n_users + 1)]
    settings = Settings.from_mapping({"data_dir": str(data), "database_url": db_url})
    services = build_services(settings)
    for user in users:
        services.accounts.add_user(user, PASSWORD)
    services.close()
    return Server(name or f"ankiserv-{backend}", running.url, running.process, users, cleanup)


HAPROXY = """\
global
    maxconn 4096
defaults
    mode http
    option http-keep-alive
    timeout connect 5s
    timeout client 130s
    timeout server 600s
frontend sync
    bind 127.0.0.1:{port}
    default_backend ankiserv
backend ankiserv
    balance leastconn
{servers}
"""


def balanced(work: Path, instances: int, workers: int = 2, n_users: int = BENCH_USERS,
             haproxy: str = "haproxy", backend: str = "postgres") -> Server:
    """`instances` ankiserv servers on one PostgreSQL (or Citus) database, behind HAProxy
    (Debian's `haproxy` package) balancing each request to the least busy one."""
    first = ankiserv(work, backend, workers=workers, n_users=n_users)
    db_url = first.cleanup.pop()  # dropped once, by the balancer's Server
    backends = [first]
    for _ in range(instances - 1):
        data = work / f"ankiserv-{backend}-{uuid.uuid4().hex[:6]}"
        running = start_server(data, db_url, workers=workers, ANKISERV_ACCESS_LOG="0")
        backends.append(Server(f"ankiserv-{backend}", running.url, running.process))
    port = _free_port()
    config = work / f"haproxy-{port}.cfg"
    config.write_text(HAPROXY.format(port=port, servers="\n".join(
        f"    server s{i} {b.url.removeprefix('http://')}" for i, b in enumerate(backends))))
    log = (work / "haproxy.log").open("wb")
    process = subprocess.Popen([haproxy, "-db", "-f", str(config)], stdout=log,
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    _wait(url, process)
    return Server(f"ankiserv-{backend} {instances}x{workers}w haproxy", url, process,
                  first.users, [db_url], backends)


def floor(work: Path, workers: int = 2, n_users: int = BENCH_USERS,
          pg_admin: str = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres") -> Server:
    """The bare stack (`benchmarks.floor`): Falcon + gunicorn + raw psycopg2, no sync logic."""
    db_url = _create_database(pg_admin)
    url = make_url(db_url)
    dsn = f"host={url.host} port={url.port or 5432} dbname={url.database} user={url.username}"
    port = _free_port()
    log = (work / "floor.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "benchmarks.floor", dsn, str(port),
                                str(workers)], stdout=log, stderr=subprocess.STDOUT,
                               cwd=Path(__file__).resolve().parents[1])
    server_url = f"http://127.0.0.1:{port}"
    _wait(server_url, process)
    users = [f"bench{i}" for i in range(1, n_users + 1)]
    return Server("floor", server_url, process, users, [db_url])
