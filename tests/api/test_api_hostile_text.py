"""Text no database can store (a lone UTF-16 surrogate, sent as a JSON escape; NUL) in any
text field of the JSON API and of the djankiserv-compatible API, query parameters
included: a 400 that names no input, and the user's collection is left as it was, on
every backend. Logins refuse it before looking anything up."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from falcon import testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import BASE, User

DJS = "/djs/dapi"
BAD = ("\ud800", "\udfff", "\udc80", "\x00")
# Text valid in every field the cases below fill (no spaces: tags cannot hold them).
PLAIN = st.text(st.characters(codec="utf-8", exclude_categories=("Z", "C")), max_size=4)
HOSTILE = st.builds(lambda a, bad, b: a + bad + b, PLAIN, st.sampled_from(BAD), PLAIN)
EXAMPLES = settings(max_examples=6, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@dataclass(frozen=True)
class Case:
    """One request with one text field (or query parameter) to fill."""

    method: str
    path: str
    body: Callable[[User, str], Any] | None = None
    query: Callable[[str], dict[str, str]] | None = None
    login: bool = True  # send alice's bearer token
    plain: int = 200  # the status with plain text in the field: the request gets that far


def _note(user: User, text: str, key: str = "Front", tag: str = "t") -> dict[str, Any]:
    return {"notetype_id": user.notetype_id("Basic"), "fields": {key: text, "Back": "b"},
            "tags": [tag]}


def _djs_note(text: str, model: str = "Basic", tag: str = "t") -> dict[str, Any]:
    return {"model": model, "fields": [text, "b"], "tags": [tag]}


CASES = {
    "token username": Case("POST", f"{BASE}/token",
                           lambda u, t: {"username": t, "password": "pw"}, login=False,
                           plain=401),
    "token password": Case("POST", f"{BASE}/token",
                           lambda u, t: {"username": u.name, "password": t}, login=False,
                           plain=401),
    "new deck name": Case("POST", f"{BASE}/decks", lambda u, t: {"name": "D " + t}, plain=201),
    "deck rename": Case("PATCH", f"{BASE}/decks/1", lambda u, t: {"name": "R " + t}),
    "tag rename old": Case("POST", f"{BASE}/tags/rename",
                           lambda u, t: {"old": "old" + t, "new": "x"}),
    "tag rename new": Case("POST", f"{BASE}/tags/rename",
                           lambda u, t: {"old": "old", "new": "new" + t}),
    "note field": Case("POST", f"{BASE}/notes", lambda u, t: {"notes": [_note(u, t)]},
                       plain=201),
    "note field name": Case("POST", f"{BASE}/notes",
                            lambda u, t: {"notes": [_note(u, "f", key="Front" + t)]},
                            plain=400),  # no such field
    "note tag": Case("POST", f"{BASE}/notes",
                     lambda u, t: {"notes": [_note(u, "f", tag="t" + t)]}, plain=201),
    "note edit field": Case("PATCH", f"{BASE}/notes/{{nid}}",
                            lambda u, t: {"fields": {"Front": t}}),
    "note edit tag": Case("PATCH", f"{BASE}/notes/{{nid}}", lambda u, t: {"tags": ["t" + t]}),
    "notes q": Case("GET", f"{BASE}/notes", query=lambda t: {"q": "q" + t}),
    "notes tag": Case("GET", f"{BASE}/notes", query=lambda t: {"tag": "t" + t}),
    "query parameter name": Case("GET", f"{BASE}/decks", query=lambda t: {"x" + t: "1"}),
    "djs token username": Case("POST", f"{DJS}/token",
                               lambda u, t: {"username": t, "password": "pw"}, login=False,
                               plain=401),
    "djs token password": Case("POST", f"{DJS}/token",
                               lambda u, t: {"username": u.name, "password": t},
                               login=False, plain=401),
    "djs refresh": Case("POST", f"{DJS}/token/refresh", lambda u, t: {"refresh": "1." + t},
                        login=False, plain=401),
    "djs deck": Case("POST", f"{DJS}/addNotes",
                     lambda u, t: {"deck": "D " + t, "notes": [_djs_note("f")]}),
    "djs field": Case("POST", f"{DJS}/addNotes",
                      lambda u, t: {"deck": "Default", "notes": [_djs_note(t)]}),
    "djs model": Case("POST", f"{DJS}/addNotes",
                      lambda u, t: {"deck": "Default", "notes": [_djs_note("f", "Basic" + t)]},
                      plain=404),
    "djs tag": Case("POST", f"{DJS}/addNotes",
                    lambda u, t: {"deck": "Default", "notes": [_djs_note("f", tag="t" + t)]}),
    "djs key": Case("POST", f"{DJS}/deleteNotes", lambda u, t: {"ids": [], "k" + t: 1}),
}


def send(user: User, case: Case, text: str, nid: int) -> testing.Result:
    headers = {"Content-Type": "application/json", **(user.auth if case.login else {})}
    # json.dumps escapes what is not ASCII: a surrogate goes as \ud800, as an attacker sends it.
    body = None if case.body is None else json.dumps(case.body(user, text)).encode()
    query = "&".join(f"{_pct(k)}={_pct(v)}" for k, v in (case.query or (lambda _: {}))(text)
                     .items())
    return user.http.simulate_request(case.method, case.path.format(nid=nid), body=body,
                                      headers=headers, query_string=query or None)


def _pct(text: str) -> str:
    from urllib.parse import quote

    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def state(user: User) -> tuple[Any, ...]:
    """What the user sees and what devices sync: notes, decks, tags and the collection's
    usn and modification time."""
    return (user.meta(), user.deck_names(), user.stored_tags(), user.note_ids(limit=1000),
            [user.stored_note(n) for n in user.note_ids(limit=1000)])


@pytest.fixture
def user(alice: User) -> tuple[User, int]:
    return alice, alice.add_basic("front", tags=("old",))


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_the_cases_are_accepted_with_plain_text(user: tuple[User, int], case: Case) -> None:
    """Each case below is refused for its text, not for something else."""
    alice, nid = user
    result = send(alice, case, "plain", nid)
    assert result.status_code == case.plain, result.text


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_text_no_database_can_store_is_400_and_changes_nothing(
    user: tuple[User, int], case: Case
) -> None:
    alice, nid = user
    before = state(alice)

    @EXAMPLES
    @given(text=HOSTILE)
    def check(text: str) -> None:
        if case.query is not None and "\x00" not in text:
            # A query string carries bytes: an encoded surrogate is invalid UTF-8, read as
            # U+FFFD, which any database stores. Only NUL is left to refuse.
            text = text + "\x00"
        result = send(alice, case, text, nid)
        assert result.status_code == 400, (text, result.status_code, result.text)
        assert result.json["description"] == "text must be valid Unicode without NUL"

    check()
    assert state(alice) == before
