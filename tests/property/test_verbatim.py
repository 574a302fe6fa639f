"""What clients store comes back byte for byte, however often it is synced.

Note fields (any unicode without the field separator, 1-50 KB), card `data` JSON
text in any formatting, and keys the server does not know inside deck, preset and
note type JSON travel up, down and back again through normal syncs, and out of a
full download, unchanged, on every storage backend.
"""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from adapters.memory.store import InMemoryStore
from adapters.sql.uow import SqlUnitOfWorkFactory
from domain.model import UserId
from domain.new_collection import new_collection
from domain.sync.note_text import FIELD_SEPARATOR
from domain.sync.server import SyncServer
from ports.stores import UnitOfWorkFactory
from tests.support.fakes import FakeClock
from tests.support.replica import (
    ClientReplica,
    ServerTime,
    SyncOutcome,
    canonical,
    server_snapshot,
)

CHARS = st.characters(codec="utf-8", exclude_characters="\x1f")
ODD = st.sampled_from(
    [
        "\x00",
        "🙂",
        "👩\u200d👩\u200d👧",
        "e\u0301",
        "\u202e",
        "\r\n",
        "\r",
        "\t",
        "  ",
        "\\",
        "'",
        '"',
        "%s",
        "?",
        "\ufeff",
        "\U0001d518",
        "\u2028",
        "<br>",
        "&amp;",
        "\x7f",
        "\x01",
    ]
)
PIECE = CHARS | ODD


def texts(min_size: int = 0, max_size: int = 20) -> st.SearchStrategy[str]:
    return st.lists(PIECE, min_size=min_size, max_size=max_size).map("".join)


SHORT = texts()


@st.composite
def big_text(draw: st.DrawFn) -> str:
    """1-50 KB of UTF-8: a random unit repeated, with random text around it."""
    unit = draw(texts(1, 40))
    size = draw(st.integers(1024, 50 * 1024))
    body = unit * (size // len(unit.encode()) + 1)
    return draw(SHORT) + body[: max(1, size // 4)] + body + draw(SHORT)


FIELDS = st.lists(SHORT | big_text(), min_size=2, max_size=2)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts(max_size=10)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(CHARS, max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
CARD_DATA = st.builds(
    json.dumps,
    st.dictionaries(st.text(CHARS, max_size=8), JSON, max_size=4),
    ensure_ascii=st.booleans(),
    indent=st.none() | st.integers(0, 2),
    separators=st.sampled_from([None, (",", ":"), (", ", ": ")]),
) | st.sampled_from(["", "{}", '{"pos":1,"lrt":1795671261}', "not json at all"])

_KNOWN = new_collection(0)
KNOWN_KEYS = {"usn", "mod", "id", "name", "css", "desc"}
for _obj in (*_KNOWN.decks, *_KNOWN.notetypes, *_KNOWN.deck_configs):
    KNOWN_KEYS |= json.loads(_obj.json).keys()
UNKNOWN = st.dictionaries(
    texts(1, 12).filter(lambda k: k not in KNOWN_KEYS), JSON, min_size=1, max_size=3
)


def check_syncs_keep_bytes(
    uow: UnitOfWorkFactory,
    user: UserId,
    fields: list[str],
    card_data: str,
    extras: dict[str, dict[str, Any]],
    rounds: int,
) -> None:
    """Write the values on one device, sync them back and forth `rounds` times, compare."""
    clock = FakeClock()
    server = SyncServer(uow=uow, clock=ServerTime(clock))
    ids = itertools.count(clock.now_ms() * 1000).__next__
    a, b, c = (ClientReplica(name, clock, ids) for name in "abc")
    a.full_upload(server, user)
    b.full_download(server, user)
    clock.tick(1000)
    nid, cid = a.add_note(fields, card_data=card_data)
    did = a.add_deck(extras["decks"])
    mid, conf_id = a.notetype_id, min(a.state.deck_configs)
    assert a.edit_object("notetypes", mid, extras["notetypes"])
    assert a.edit_object("deck_configs", conf_id, extras["deck_configs"])
    assert a.sync(server, user) is SyncOutcome.FINISHED
    for i in range(rounds):
        writer = (b, a)[i % 2]
        clock.tick(1000)
        assert writer.sync(server, user) in (SyncOutcome.FINISHED, SyncOutcome.NO_CHANGES)
        # Touch every object elsewhere, so each one travels again with the bytes inside.
        writer.set_note_tags(nid, [f"round{i}"])
        writer.set_card_flag(cid, i % 7 + 1)
        writer.edit_object("decks", did, {"desc": f"round {i}"})
        writer.edit_object("notetypes", mid, {"css": f"/* round {i} */"})
        writer.edit_object("deck_configs", conf_id, {"maxTaken": i})
        assert writer.sync(server, user) is SyncOutcome.FINISHED
    assert b.sync(server, user) in (SyncOutcome.FINISHED, SyncOutcome.NO_CHANGES)
    assert a.sync(server, user) in (SyncOutcome.FINISHED, SyncOutcome.NO_CHANGES)
    c.full_download(server, user)

    flds = FIELD_SEPARATOR.join(fields)
    stored = server_snapshot(uow, user)
    assert stored.notes[nid].flds == flds
    assert stored.cards[cid].data == card_data
    held = {
        "server": {
            "notetypes": json.loads(stored.notetypes[mid].json),
            "decks": json.loads(stored.decks[did].json),
            "deck_configs": json.loads(stored.deck_configs[conf_id].json),
        }
    }
    for replica in (a, b, c):
        assert replica.state.notes[nid].flds == flds, replica.name
        assert replica.state.cards[cid].data == card_data, replica.name
        held[replica.name] = {
            "notetypes": replica.state.notetypes[mid],
            "decks": replica.state.decks[did],
            "deck_configs": replica.state.deck_configs[conf_id],
        }
    for who, objects in held.items():
        for section, extra in extras.items():
            kept = {key: canonical(objects[section].get(key)) for key in extra}
            assert kept == {key: canonical(value) for key, value in extra.items()}, (who, section)


EXTRAS = st.fixed_dictionaries({"notetypes": UNKNOWN, "decks": UNKNOWN, "deck_configs": UNKNOWN})


@settings(
    max_examples=max(10, settings.default.max_examples // 2),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(fields=FIELDS, card_data=CARD_DATA, extras=EXTRAS, rounds=st.integers(0, 3))
def test_fields_card_data_and_unknown_keys_survive_syncs_verbatim(
    fields: list[str], card_data: str, extras: dict[str, dict[str, Any]], rounds: int
) -> None:
    check_syncs_keep_bytes(InMemoryStore(), UserId(1), fields, card_data, extras, rounds)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(fields=FIELDS, card_data=CARD_DATA, extras=EXTRAS, rounds=st.integers(0, 2))
def test_sql_keeps_fields_card_data_and_unknown_keys_verbatim(
    engine: Engine,
    fields: list[str],
    card_data: str,
    extras: dict[str, dict[str, Any]],
    rounds: int,
) -> None:
    check_syncs_keep_bytes(
        SqlUnitOfWorkFactory(engine),
        UserId(uuid.uuid4().int >> 66),
        fields,
        card_data,
        extras,
        rounds,
    )
