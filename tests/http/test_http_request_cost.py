"""What one sync costs the database: no request takes a connection from the pool (a
thread keeps the one it used last), and a small normal sync stays within a fixed
statement budget on every backend (a regression here costs every user on every sync).

Statements are counted as the database sees them: those SQLAlchemy runs and those run on
the driver's cursor, a text of several statements (`BEGIN ...; EXECUTE ...`) counting
each; transaction control (BEGIN, COMMIT, ROLLBACK, savepoints) and PostgreSQL's one-off
PREPAREs are counted apart.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event

from adapters.sql import transaction
from tests.http.harness import Account, Api
from tests.http.wire import SYNC_HEADER, decode, frame, header_value

CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA", "SELECT 1", "SET LOCAL")
# A small sync as the load test runs it: nothing to send either way but 2 edited notes
# and their 2 cards from the device. Measured: 15 on PostgreSQL (each request one lock
# query that also reads what the step needs where it can, at most one more read, and one
# write that carries the commit; the server's empty first chunk is one read, no lock);
# SQLite and MariaDB run each write on its own (SQLite one per row, in-process): 26, 21.
SMALL_SYNC_BUDGET = {"postgres": 15, "citus": 15, "sqlite": 26, "mysql": 21}
# The first sync of a new device: one new note and a tag (a few more writes at finish).
FIRST_SYNC_BUDGET = {"postgres": 17, "citus": 17, "sqlite": 23, "mysql": 23}


@dataclass
class Counts:
    checkouts: int = 0
    statements: int = 0
    control: int = 0
    prepares: int = 0
    texts: list[str] = field(default_factory=list)

    def saw(self, sql: str) -> None:
        for part in sql.split("; "):
            part = part.lstrip()
            if part.upper().startswith("PREPARE"):
                self.prepares += 1
            elif part.upper().startswith(CONTROL):
                self.control += 1
            else:
                self.statements += 1
                name = part.split("(")[0].removeprefix("EXECUTE ").strip()
                text = transaction.PREPARED_TEXT.get(name, part)
                self.texts.append(" ".join(text.split())[:100])


@contextmanager
def counting(api: Api) -> Iterator[Counts]:
    counts = Counts()
    engine = api.services.engine

    def checkout(*_args: Any) -> None:
        counts.checkouts += 1

    def statement(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        counts.saw(sql)

    def raw(sql: str, _seconds: float) -> None:
        counts.saw(sql)

    event.listen(engine, "checkout", checkout)
    event.listen(engine, "before_cursor_execute", statement)
    transaction.OBSERVERS.append(raw)
    try:
        yield counts
    finally:
        event.remove(engine, "checkout", checkout)
        event.remove(engine, "before_cursor_execute", statement)
        transaction.OBSERVERS.remove(raw)


def post(api: Api, account: Account, method: str, payload: Any) -> Any:
    body = frame(json.dumps(payload).encode("utf-8"))
    headers = {SYNC_HEADER: header_value(account.key, session="cost")}
    reply = decode(api.client.post_raw(method, body, headers=headers))
    assert reply.status == 200, (method, reply)
    return reply.json()


def sync(api: Api, account: Account, usn: int, tags: list[str], notes: list[list[Any]],
         cards: list[list[Any]], sanity: list[Any]) -> dict[str, Any]:
    meta = api.client.meta(account.key).json()
    post(api, account, "start", {"minUsn": usn, "lnewer": True, "graves": None})
    changes = post(api, account, "applyChanges",
                   {"changes": {"models": [], "decks": [[], []], "tags": tags}})
    while not post(api, account, "chunk", {"_pad": None})["done"]:
        pass
    post(api, account, "applyChunk", {"chunk": {"done": True, "notes": notes, "cards": cards}})
    result = post(api, account, "sanityCheck2", {"client": sanity})
    assert result["status"] == "ok", result
    post(api, account, "finish", {"_pad": None})
    return {"meta": meta, "changes": changes}


def test_a_small_sync_reuses_the_threads_connection_and_runs_few_statements(
    backend_api: Api, backend: str
) -> None:
    api = backend_api
    account = api.new_account()
    api.client.meta(account.key).json()  # creates the collection
    mid = post(api, account, "start", {"minUsn": 0, "lnewer": True, "graves": None})
    models = post(api, account, "applyChanges",
                  {"changes": {"models": [], "decks": [[], []], "tags": []}})["models"]
    post(api, account, "abort", {})
    mid = models[0]["id"]
    note = [1795671261130, "guid1", mid, 1795671261, -1, "t", "front\x1fback", "", 0, 0, ""]
    sanity = [[0, 0, 0], 0, 1, 0, 0, len(models), 1, 1]
    with counting(api) as first:
        sync(api, account, 0, ["t"], [note], [], sanity)
    assert first.checkouts == 0
    assert first.statements <= FIRST_SYNC_BUDGET[backend], first

    # The load test's sync: two notes edited, their two cards rescheduled.
    second = [1795671261131, "guid2", mid, 1795671261, -1, "", "a\x1fb", "", 0, 0, ""]
    cards = [[1795671261200 + i, nid, 1, 0, 1795671262, -1, 2, 2, 5, 1, 2500, 1, 0, 0, 0, 0,
              0, ""] for i, nid in enumerate((note[0], second[0]))]
    sync(api, account, 1, [], [second], cards, [[0, 0, 0], 2, 2, 0, 0, len(models), 1, 1])
    edited = [[*n[:3], 1795671300, -1, n[5], n[6] + " edited", *n[7:]] for n in (note, second)]
    edited_cards = [[*c[:4], 1795671300, -1, *c[6:]] for c in cards]
    with counting(api) as small:
        sync(api, account, 2, [], edited, edited_cards,
             [[0, 0, 0], 2, 2, 0, 0, len(models), 1, 1])
    assert small.checkouts == 0
    assert small.statements <= SMALL_SYNC_BUDGET[backend], small
