"""The `meta` request and answer on the wire: the shortcut for what clients send agrees
with the schema for every payload, and the answer carries the protocol's names."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from marshmallow import ValidationError

from adapters.http.schemas import MetaRequestSchema, dump_meta, load_meta
from domain.sync.meta import MetaRequest, ServerMeta

SCHEMA = MetaRequestSchema()
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False), st.text(max_size=8),
    st.sampled_from(["11", " 10 ", "1e3", "11.0"]), st.lists(st.integers(), max_size=2),
)
PAYLOADS = st.fixed_dictionaries(
    {}, optional={"v": SCALARS, "cv": SCALARS, "other": SCALARS})


def _outcome(load: Any, data: dict[str, Any]) -> MetaRequest | str:
    try:
        result: MetaRequest = load(data)
    except ValidationError:
        return "invalid"
    return result


@given(PAYLOADS)
def test_the_shortcut_agrees_with_the_schema(data: dict[str, Any]) -> None:
    assert _outcome(load_meta, dict(data)) == _outcome(SCHEMA.load, dict(data))


@pytest.mark.parametrize(("data", "expected"), [
    ({"v": 11, "cv": "anki,26.09.3 (x),linux"}, MetaRequest(11, "anki,26.09.3 (x),linux")),
    ({"v": 10}, MetaRequest(10, "")),
    ({"v": "11", "cv": "x"}, MetaRequest(11, "x")),  # converted by the schema, as before
])
def test_what_clients_send_is_read(data: dict[str, Any], expected: MetaRequest) -> None:
    assert load_meta(data) == expected


@pytest.mark.parametrize("data", [{}, {"v": True}, {"v": 2**63}, {"v": 11, "cv": None},
                                  {"v": None}, {"v": "eleven"}])
def test_bad_requests_are_refused(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        load_meta(data)


def test_the_answer_uses_the_protocol_names() -> None:
    meta = ServerMeta(mod=1, scm=2, usn=3, ts=4, msg="hi", cont=True, empty=False,
                      media_usn=5, host_num=6)
    assert dump_meta(meta) == {"mod": 1, "scm": 2, "usn": 3, "ts": 4, "msg": "hi",
                               "cont": True, "hostNum": 6, "empty": False, "media_usn": 5}
