"""End-to-end fixtures: a real ankiserv per backend, and fresh accounts for each test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import RunningServer, start_server


@pytest.fixture(scope="session")
def server(db_url: str, backend: str, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp(f"server-{backend}"), db_url)
    yield running
    running.stop()


@pytest.fixture
def account(server: RunningServer) -> tuple[str, str]:
    """A new user on the running server: (name, password)."""
    name, password = f"user-{uuid.uuid4().hex[:8]}", "pass-" + uuid.uuid4().hex[:6]
    server.add_user(name, password)
    return name, password


@pytest.fixture
def profiles(tmp_path: Path) -> Iterator[list[Path]]:
    yield [tmp_path / "device-a", tmp_path / "device-b"]
