"""Schemathesis against the served OpenAPI description: no input makes the API fail (5xx).

Every operation of /api/v1/openapi.json gets valid and invalid requests (bounded, and
derandomised so a run is repeatable) from a real user's bearer token, on every backend.
Half of them carry text no database can store (NUL, a lone surrogate) in one of their
strings, which schemathesis never generates itself: those must be refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from adapters.auth.passwords import Argon2PasswordHasher
from adapters.http.openapi import PATHS
from tests.api.conftest import User, new_user
from tests.http.harness import Api, start_api

FUZZ = settings(max_examples=20, deadline=None, database=None, derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck))

OPERATIONS = [pytest.param(method.upper(), path, id=f"{method.upper()} {path}")
              for path, methods in PATHS.items() for method in methods]


@pytest.fixture(scope="module")
def fuzz_api(db_url: str, backend: str, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Api]:
    app = start_api(tmp_path_factory.mktemp(f"api-fuzz-{backend}"), db_url)
    app.services.accounts.hasher = Argon2PasswordHasher(time_cost=1, memory_cost=64)
    yield app
    app.close()


@pytest.fixture(scope="module")
def fuzz_user(fuzz_api: Api) -> User:
    """A user with a little of everything, so generated ids sometimes hit real rows."""
    user = new_user(fuzz_api)
    deck = user.add_deck("Fuzz::Deck")
    for i in range(3):
        user.add_basic(f"fuzz {i}", tags=("fuzz", f"n::{i}"), deck_id=deck if i else None)
    return user


@pytest.fixture(scope="module")
def schema(fuzz_api: Api) -> Any:
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_api.client.app)


def test_every_path_of_the_routes_is_described(schema: Any) -> None:
    labels = {result.ok().label for result in schema.get_all_operations()}
    expected = {f"{m.upper()} {p}" for p, methods in PATHS.items() for m in methods}
    assert labels == expected
    assert len(labels) == 26


@pytest.mark.parametrize("method, path", OPERATIONS)
def test_no_input_makes_the_api_fail(schema: Any, fuzz_api: Api, fuzz_user: User,
                                     method: str, path: str) -> None:
    operation = schema[path][method]
    token = fuzz_user.token
    if (method, path) == ("DELETE", "/token"):
        token = new_user(fuzz_api).token  # revoking it must not lock the other operations out
    headers = {"Authorization": f"Bearer {token}"}
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE, headers=headers),
                      operation.as_strategy(GenerationMode.NEGATIVE, headers=headers))

    statuses: set[int] = set()

    @FUZZ
    @given(case=cases, data=st.data())
    def check(case: Any, data: st.DataObject) -> None:
        poisoned = data.draw(st.booleans()) and poison(case, data)
        status = case.call_and_validate(checks=[not_a_server_error]).status_code
        statuses.add(status)
        assert not (poisoned and status < 400), (case.body, case.query, status)

    check()
    assert statuses - {401}, "the token must let the fuzzer past authentication"


def poison(case: Any, data: st.DataObject) -> bool:
    """Put NUL or a lone surrogate into one string of the case's body or query, if it has
    one; whether it did. A query string carries bytes, where a surrogate is not UTF-8 (it
    decodes as U+FFFD), so it gets NUL."""
    spots: list[tuple[Any, Any, str]] = []
    stack: list[Any] = [case.body]
    while stack:
        item = stack.pop()
        pairs = item.items() if isinstance(item, dict) else (
            enumerate(item) if isinstance(item, list) else ())
        for key, value in pairs:
            if isinstance(value, str):
                spots.append((item, key, "\x00\ud800\udfff"))
            stack.append(value)
    spots += [(case.query, key, "\x00") for key, value in (case.query or {}).items()
              if isinstance(value, str)]
    if not spots:
        return False
    where, key, bad = data.draw(st.sampled_from(spots))
    at = data.draw(st.integers(0, len(where[key])))
    where[key] = where[key][:at] + data.draw(st.sampled_from(bad)) + where[key][at:]
    return True


def test_the_fuzzed_user_still_works(fuzz_user: User) -> None:
    assert fuzz_user.get("/decks").status_code == 200
    assert fuzz_user.get("/notes", limit=1000).status_code == 200
