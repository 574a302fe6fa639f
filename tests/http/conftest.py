"""HTTP-test fixtures: the app on SQLite (most tests) or on every backend (storage tests)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.http.anki_files import CollectionFile, build
from tests.http.harness import Account, Api, start_api


@pytest.fixture(scope="session")
def sqlite_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The app on its own SQLite database, for tests that do not depend on the backend."""
    api = start_api(tmp_path_factory.mktemp("http-sqlite"))
    yield api
    api.close()


@pytest.fixture(scope="session")
def backend_api(
    db_url: str, backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    """The app on the shared test database of each backend (sqlite, postgres, mysql)."""
    api = start_api(tmp_path_factory.mktemp(f"http-{backend}"), db_url)
    yield api
    api.close()


@pytest.fixture
def account(sqlite_api: Api) -> Account:
    return sqlite_api.new_account()


@dataclass(frozen=True)
class AnkiFiles:
    """Collections written by `anki` 26.9.3: two different ones, and the first as schema 11."""

    alpha18: CollectionFile
    alpha11: CollectionFile
    beta18: CollectionFile


@pytest.fixture(scope="session")
def anki_files(tmp_path_factory: pytest.TempPathFactory) -> AnkiFiles:
    root = tmp_path_factory.mktemp("anki-files")
    # "42" and "007" end up as integers in the sfld column; the emoji tests utf8mb4.
    fronts = ["alpha one", "42", "007", "ünïcödé 漢字 🙂", "long " + "x" * 20_000]
    alpha18 = build(root / "alpha18", fronts, reviews=2)
    alpha11 = build(root / "alpha11", fronts, reviews=2, downgrade=True)
    beta18 = build(root / "beta18", ["beta one", "beta two"], reviews=1)
    assert (alpha18.schema, alpha11.schema, beta18.schema) == (18, 11, 18)
    return AnkiFiles(alpha18=alpha18, alpha11=alpha11, beta18=beta18)
