"""ankiserv on a real Citus cluster: `db upgrade` distributes the schema (and leaves plain
PostgreSQL alone), migrations run on the distributed schema, an installation moved from
single-node PostgreSQL is distributed with its data, and shards move to a new worker
while real clients keep syncing, losing nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from anki.sync import SyncAuth
from sqlalchemy import Engine, text

from adapters.sql import schema
from adapters.sql.citus import REFERENCE_TABLES
from adapters.sql.dialects import build_engine
from tests.conftest import _create_database, _drop_database, citus_schema, server_url
from tests.media.devices import folder_files, sync_all, write_files
from tests.support.anki_client import Profile, add_basic_note, content
from tests.support.citus_node import extra_worker
from tests.support.server import server_env, start_server
from tests.support.syncing_device import SyncingDevice

pytestmark = [pytest.mark.e2e, pytest.mark.citus]
ANKISERV = [sys.executable, "-m", "entrypoints"]
NO_CHANGES = 0


@pytest.fixture
def citus_url() -> Iterator[str]:
    """A new, empty schema on the Citus coordinator (as a database URL)."""
    url = _create_database(server_url("citus"))
    yield url
    _drop_database(server_url("citus"), url)


def _cli(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ANKISERV, *args], env=server_env(tmp_path / "data", url),
                          capture_output=True, text=True, timeout=300, check=False)


def _layout(engine: Engine) -> dict[str, tuple[str, int]]:
    """Table -> (Citus kind, co-location id) in the URL's schema."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT c.relname, p.partmethod, p.colocationid FROM pg_dist_partition p"
            " JOIN pg_class c ON c.oid = p.logicalrelid"
            " WHERE c.relnamespace = current_schema()::regnamespace"))
        return {str(n): ("reference" if m == "n" else "distributed", int(co))
                for n, m, co in rows}


def test_db_upgrade_distributes_every_table_by_user(tmp_path: Path, citus_url: str) -> None:
    result = _cli(tmp_path, citus_url, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert "on Citus, distributed 18 tables by user_id" in result.stdout
    engine = build_engine(citus_url)
    try:
        layout = _layout(engine)
        assert {n for n, (kind, _) in layout.items() if kind == "reference"} \
            == set(REFERENCE_TABLES)
        distributed = {n: co for n, (kind, co) in layout.items() if kind == "distributed"}
        assert len(distributed) == 15 and len(set(distributed.values())) == 1
        assert "alembic_version" not in layout
        again = _cli(tmp_path, citus_url, "db", "upgrade")
        assert "the schema is up to date" in again.stdout and "Citus" not in again.stdout

        # A later migration on the distributed schema: down two revisions and up again.
        cfg = schema.alembic_config(engine)
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0007")
        assert "imported_host_keys" not in _layout(engine)
        assert schema.upgrade(engine) == ["imported_host_keys: reference table"]
        assert schema.revision(engine) == schema.newest(engine)
    finally:
        engine.dispose()


def test_plain_postgresql_stays_plain(tmp_path: Path) -> None:
    url = _create_database(server_url("postgres"))
    try:
        result = _cli(tmp_path, url, "db", "upgrade")
        assert result.returncode == 0 and "Citus" not in result.stdout
        engine = build_engine(url)
        with engine.connect() as conn:
            assert conn.execute(text(
                "SELECT count(*) FROM pg_extension WHERE extname = 'citus'")).scalar() == 0
        engine.dispose()
    finally:
        _drop_database(server_url("postgres"), url)


def test_an_installation_moved_onto_a_coordinator_is_distributed_with_its_data(
    tmp_path: Path, citus_url: str
) -> None:
    plain_url = _create_database(server_url("postgres"))
    device = Profile.create(tmp_path / "device")
    try:
        plain = start_server(tmp_path / "plain", plain_url)
        try:
            plain.add_user("mover", "pw")
            device.login("mover", "pw", plain.endpoint)
            for i in range(5):
                add_basic_note(device.col, f"moved note {i}")
            write_files(device, {"moved.txt": b"moved"})
            sync_all(device, upload=True)
        finally:
            plain.stop()
        # What an operator does: dump the PostgreSQL database, load it on the coordinator
        # (here into the test's schema), run `ankiserv db upgrade`, copy the media folder.
        dump = subprocess.run(["pg_dump", "--no-owner", "--no-privileges", "--schema=public",
                               _libpq(plain_url)], capture_output=True, text=True,
                              check=True).stdout
        target = citus_schema(citus_url)
        loaded = subprocess.run(
            ["psql", "-v", "ON_ERROR_STOP=1", "-q", _libpq(server_url("citus"))],
            input=_into_schema(dump, target), capture_output=True, text=True,
            check=False)
        assert loaded.returncode == 0, loaded.stderr
        upgraded = _cli(tmp_path, citus_url, "db", "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
        assert "distributed 18 tables" in upgraded.stdout
        moved = start_server(tmp_path / "moved", citus_url,
                             ANKISERV_MEDIA_DIR=str(tmp_path / "plain" / "media"))
        try:
            assert device.auth is not None
            device.auth = SyncAuth(hkey=device.auth.hkey, endpoint=moved.endpoint)
            assert sync_all(device) == NO_CHANGES
            fresh = Profile.create(tmp_path / "fresh")
            fresh.login("mover", "pw", moved.endpoint)
            sync_all(fresh, upload=False)
            assert content(fresh.col) == content(device.col)
            assert folder_files(fresh) == folder_files(device)
            fresh.close()
        finally:
            moved.stop()
    finally:
        device.close()
        _drop_database(server_url("postgres"), plain_url)


def _into_schema(dump: str, target: str) -> str:
    """A pg_dump of `public`, retargeted at the test's schema (an operator loads it into
    the coordinator's `public`)."""
    lines = [line for line in dump.splitlines()
             if not line.startswith(("CREATE SCHEMA public", "ALTER SCHEMA public",
                                     "COMMENT ON SCHEMA public"))]
    return "\n".join(lines).replace("public.", f'"{target}".')


def _libpq(url: str) -> str:
    """A SQLAlchemy URL as libpq tools take it."""
    return url.replace("postgresql+psycopg2://", "postgresql://")


def test_shards_move_to_a_new_worker_while_users_sync(tmp_path: Path, citus_url: str
                                                      ) -> None:
    server = start_server(tmp_path / "server", citus_url, workers=2)
    names = [f"mover{i}" for i in range(6)]
    for name in names:
        server.add_user(name, "pw")
    syncers = [SyncingDevice(tmp_path / n, (n, "pw"), server.endpoint, media_every=3)
               for n in names]
    engine = build_engine(citus_url)
    try:
        for syncer in syncers:
            syncer.start()
        with extra_worker(server_url("citus"), Path(os.environ.get("TMPDIR", "/tmp"))
                          / f"citus-extra-{os.getpid()}") as port:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                # The background job must be committed before anything can wait for it.
                conn.execute(text("SELECT citus_rebalance_start()"))
                conn.execute(text("SELECT citus_rebalance_wait()"))
                placed = conn.execute(text(
                    "SELECT count(*) FROM citus_shards WHERE nodeport = :p"),
                    {"p": port}).scalar()
            assert placed, "no shard moved to the new worker"
            before = [s.syncs for s in syncers]
            while any(s.syncs < b + 2 and s.is_alive() for s, b in zip(syncers, before,
                                                                      strict=True)):
                threading.Event().wait(0.1)  # syncs go on with shards on the new worker
    finally:
        for syncer in syncers:
            syncer.stop.set()
        for syncer in syncers:
            syncer.join(timeout=120)
        engine.dispose()
    try:
        for syncer in syncers:
            assert syncer.error is None, (syncer.account[0], syncer.error)
            assert syncer.syncs >= 3
            device = Profile.create(tmp_path / syncer.account[0])
            check = Profile.create(tmp_path / f"check-{syncer.account[0]}")
            check.login(syncer.account[0], "pw", server.endpoint)
            sync_all(check, upload=False)
            assert content(check.col) == content(device.col)
            assert folder_files(check) == folder_files(device)
            device.close()
            check.close()
    finally:
        server.stop()
