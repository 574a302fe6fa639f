"""The reversible NUL escape used for PostgreSQL text columns."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from adapters.sql.verbatim import escape_nul, unescape_nul

TRICKY = st.text(alphabet=st.sampled_from(["\x00", "\ue000", "\ue001", "\ue002", "a", "é"]))


@given(st.one_of(TRICKY, st.text()))
def test_escape_round_trips_and_never_contains_nul(value: str) -> None:
    escaped = escape_nul(value)
    assert "\x00" not in escaped
    assert unescape_nul(escaped) == value


def test_text_without_nul_or_escape_is_stored_unchanged() -> None:
    assert escape_nul("plain \ue001 text") == "plain \ue001 text"
