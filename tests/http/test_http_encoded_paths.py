"""One spelling per path: a request path that percent-encodes a separator ('/', '\\'), NUL
or an unreserved character (letters, digits, - . _ ~) is refused with a 400 that says
why, judged on the path as sent (gunicorn's RAW_URI), so a proxy's rules for a path
prefix mean what they say. Other percent-encodings (spaces, non-ASCII) keep working.
The real server, under a base path, is in tests/e2e/test_hostile_http.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from falcon import testing

from adapters.http.paths import AMBIGUOUS_PATH
from tests.http.harness import Account, Api, start_api

REFUSED = ["/api%2fv1%2ftags", "/api%2Fv1/tags", "/api/v1/tags%5C", "/api/v1/tags%5c..",
           "/api/v1/%00", "/%61pi/v1/tags", "/api/v1/t%41gs", "/api/v1/tags%2e",
           "/api/v1/%2E%2E/v1/tags", "/api/v1/notes/1%30", "/api/v1/deck%2dconfigs",
           "/api/v1/%5Ftags", "/api/v1/%7Etags", "/api/v1/%7a", "/sync/host%4Bey",
           "/msync/%62egin", "/djs/dapi/t%61gs", "/%68ealth"]
KEPT = {"/api/v1/tags%20x": 404, "/api/v1/%C3%A9": 404, "/api/v1/tags%25": 404,
        "/api/v1/%2B": 404, "/api/v1/%5B%5D": 404, "/health": 200}


def _get(api: Api, raw: str, headers: dict[str, str] | None = None) -> testing.Result:
    path, _, query = raw.partition("?")
    return api.client.http.simulate_get(unquote(path), query_string=query or None,
                                        headers=headers, extras={"RAW_URI": raw})


@pytest.mark.parametrize("raw", REFUSED)
def test_ambiguous_encodings_in_the_path_are_400(sqlite_api: Api, account: Account,
                                                 raw: str) -> None:
    result = _get(sqlite_api, raw, {"Authorization": f"Bearer {account.key}"})
    assert result.status_code == 400, result.text
    assert AMBIGUOUS_PATH in result.text


@pytest.mark.parametrize("raw, status", KEPT.items())
def test_other_encodings_are_not_refused(sqlite_api: Api, account: Account, raw: str,
                                         status: int) -> None:
    result = _get(sqlite_api, raw, {"Authorization": f"Bearer {account.key}"})
    assert result.status_code == status, result.text


def test_the_query_string_may_encode_anything(sqlite_api: Api, account: Account) -> None:
    result = _get(sqlite_api, "/api/v1/notes?q=%2f%61%5c", {
        "Authorization": f"Bearer {account.key}"})
    assert result.status_code == 200, result.text


@pytest.fixture(scope="module")
def under_anki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    api = start_api(Path(tmp_path_factory.mktemp("base-path")), base_path="/anki/")
    yield api
    api.close()


def test_the_base_path_has_one_spelling(under_anki: Api) -> None:
    assert _get(under_anki, "/anki/health").status_code == 200
    refused = _get(under_anki, "/%61nki/health")
    assert refused.status_code == 400
    assert AMBIGUOUS_PATH in refused.text
    assert _get(under_anki, "/anki%2fhealth").status_code == 400
