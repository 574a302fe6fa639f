"""`/health` (the process answers) and `/ready` (the database answers, schema current)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from adapters.sql.dialects import build_engine
from adapters.sql.schema import alembic_config
from entrypoints.config import Settings
from entrypoints.services import build_services
from entrypoints.wsgi import build_app
from tests.http.harness import Api, start_api
from tests.http.wire import SyncClient


@pytest.mark.parametrize("path", ["/health", "/ready"])
def test_health_and_ready_answer_get_and_head(backend_api: Api, path: str) -> None:
    http = backend_api.client.http
    got = http.simulate_get(path)
    assert got.status_code == 200
    assert got.json["status"] in ("ok", "ready")
    assert http.simulate_head(path).status_code == 200


def test_health_and_ready_honour_the_base_path(tmp_path: Path) -> None:
    api = start_api(tmp_path / "data", base_path="/anki")
    try:
        http = api.client.http
        assert http.simulate_get("/anki/health").status_code == 200
        assert http.simulate_get("/anki/ready").status_code == 200
        assert http.simulate_get("/ready").status_code == 404
    finally:
        api.close()


def _unmigrated_app(url: str, data: Path) -> SyncClient:
    settings = Settings.from_mapping({"data_dir": str(data), "database_url": url})
    return SyncClient(build_app(settings, build_services(settings, migrate=False)))


def test_ready_is_503_without_an_ankiserv_schema(tmp_path: Path) -> None:
    http = _unmigrated_app(f"sqlite:///{tmp_path}/empty.db", tmp_path / "data").http
    got = http.simulate_get("/ready")
    assert got.status_code == 503
    assert "no ankiserv schema" in got.json["reason"]
    assert http.simulate_head("/ready").status_code == 503
    assert http.simulate_get("/health").status_code == 200  # the process still answers


def test_ready_is_503_when_the_schema_is_behind(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/old.db"
    api = start_api(tmp_path / "data", url)
    api.close()
    engine = build_engine(url)
    with engine.begin() as conn:
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "-1")
    with engine.connect() as conn:
        behind = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    got = _unmigrated_app(url, tmp_path / "data").http.simulate_get("/ready")
    assert got.status_code == 503
    assert f"schema is at {behind}" in got.json["reason"]
    assert "ankiserv db upgrade" in got.json["reason"]


def test_ready_is_503_when_the_database_does_not_answer(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://postgres@127.0.0.1:{port}/test"
    http = _unmigrated_app(url, tmp_path / "data").http
    got = http.simulate_get("/ready")
    assert got.status_code == 503
    assert got.json["reason"] == "the database does not answer"
    assert http.simulate_get("/health").status_code == 200
