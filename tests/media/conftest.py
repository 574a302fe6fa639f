"""Media-test fixtures: the app in process and a real server, each on every backend."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.media.support import Account, MediaApi, start_media_api
from tests.support.server import RunningServer, start_server


@pytest.fixture(scope="session")
def media_api(
    db_url: str, backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MediaApi]:
    """The app on the shared test database of each backend, with small size limits.

    Its files go to a RAM disk when there is one: the blob store fsyncs every file.
    """
    shm = Path("/dev/shm")
    if shm.is_dir():
        data_dir = Path(tempfile.mkdtemp(prefix=f"ankiserv-media-{backend}-", dir=shm))
    else:
        data_dir = tmp_path_factory.mktemp(f"media-http-{backend}")
    api = start_media_api(data_dir, db_url)
    yield api
    api.close()
    if data_dir.parent == shm:
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def account(media_api: MediaApi) -> Account:
    return media_api.new_account()


@pytest.fixture(scope="session")
def media_server(
    db_url: str, backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A real ankiserv (gunicorn, two workers, default limits) on each backend."""
    running = start_server(tmp_path_factory.mktemp(f"media-e2e-{backend}"), db_url)
    yield running
    running.stop()
