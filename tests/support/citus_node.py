"""One more Citus worker for a running test cluster: a PostgreSQL server with the citus
extension on a free loopback port, added to the coordinator and later drained and
removed again (the cluster is shared by the whole test session)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PGBIN = Path(os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin"))


def _as_postgres(*args: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.getuid() == 0 else list(args)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _coordinator(url: str) -> str:
    """The coordinator's own database URL (without a test schema's search path)."""
    parsed = make_url(url)
    return parsed.set(query={k: v for k, v in parsed.query.items() if k != "options"}
                      ).render_as_string(hide_password=False)


@contextlib.contextmanager
def extra_worker(coordinator_url: str, directory: Path) -> Iterator[int]:
    """Start a worker, add it to the cluster, yield its port; drain and remove it at the
    end, moving its shards back to the other workers."""
    port = _free_port()
    data = directory / "data"
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o777)
    subprocess.run(_as_postgres(str(PGBIN / "initdb"), "-D", str(data), "-U", "postgres",
                                "--auth-local=trust", "--auth-host=trust", "-E", "UTF8",
                                "--locale=C.UTF-8"), check=True, capture_output=True)
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(f"port = {port}\nlisten_addresses = '127.0.0.1'\n"
                   f"unix_socket_directories = '{directory}'\n"
                   "shared_preload_libraries = 'citus'\nmax_connections = 100\n"
                   "wal_level = logical\n")
    subprocess.run(_as_postgres(str(PGBIN / "pg_ctl"), "-D", str(data), "-l",
                                str(directory / "worker.log"), "-w", "start"),
                   check=True, capture_output=True)
    admin = create_engine(make_url(_coordinator(coordinator_url)).set(
        drivername="postgresql+psycopg2"), isolation_level="AUTOCOMMIT")
    worker = create_engine(f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres",
                           isolation_level="AUTOCOMMIT")
    try:
        with worker.connect() as conn:
            conn.execute(text("CREATE EXTENSION citus"))
        with admin.connect() as conn:
            conn.execute(text("SELECT citus_add_node('127.0.0.1', :p)"), {"p": port})
        yield port
    finally:
        with admin.connect() as conn:
            conn.execute(text("SELECT citus_drain_node('127.0.0.1', :p)"), {"p": port})
            conn.execute(text("SELECT citus_remove_node('127.0.0.1', :p)"), {"p": port})
        admin.dispose()
        worker.dispose()
        subprocess.run(_as_postgres(str(PGBIN / "pg_ctl"), "-D", str(data), "-m", "fast",
                                    "stop"), check=False, capture_output=True)
