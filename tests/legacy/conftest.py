"""Legacy-client fixtures: anki 2.1.54 in its own venv, and a real ankiserv per backend.

`anki` 2.1.54 (sync v10, multipart + gzip) cannot be imported next to the test venv's
26.9.3, so it lives in `.venv-legacy/2.1.54` at the repository root, created on first
use (pip needs network access once) and reused afterwards. Tests drive it through
`driver.py` in a subprocess.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest

from domain.accounts import Accounts
from entrypoints.config import Settings
from entrypoints.services import build_services
from tests.legacy.clients import LegacyProfile
from tests.support.server import RunningServer, start_server

LEGACY_VERSION = "2.1.54"
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def legacy_server(db_url: str, backend: str, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp(f"legacy-server-{backend}"), db_url)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def accounts(legacy_server: RunningServer) -> Iterator[Accounts]:
    """The server's account service, built in this process from the server's settings."""
    services = build_services(Settings.from_env(legacy_server.env))
    yield services.accounts
    services.close()


@pytest.fixture
def account(accounts: Accounts) -> tuple[str, str]:
    """A new user on the running server: (name, password).

    Created in-process like `ankiserv user add` does (the CLI costs seconds per user).
    """
    name, password = f"legacy-{uuid.uuid4().hex[:8]}", "pw-" + uuid.uuid4().hex[:8]
    accounts.add_user(name, password)
    return name, password


@pytest.fixture
def new_profile(legacy_python: Path, legacy_server: RunningServer, tmp_path: Path
                ) -> Iterator[Callable[[str], LegacyProfile]]:
    """Make an empty anki 2.1.54 profile (a device) pointed at the server."""
    made: list[LegacyProfile] = []

    def make(name: str) -> LegacyProfile:
        profile = LegacyProfile(legacy_python, LEGACY_VERSION, tmp_path / name,
                                legacy_server.endpoint)
        made.append(profile)
        return profile

    yield make
    for profile in made:
        profile.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the end of the server log to a failed test's report."""
    report: pytest.TestReport = yield
    server = getattr(item, "funcargs", {}).get("legacy_server")
    if report.when == "call" and report.failed and isinstance(server, RunningServer):
        report.sections.append(("ankiserv log (last 6000 chars)", server.log()[-6000:]))
    return report
