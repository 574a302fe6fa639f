"""PostgreSQL statements' arguments are written as SQL literals by ankiserv itself (see
`statements.pg_literal`, `array_literal`): whatever text or numbers go in, the server
reads back exactly those values, and no value can end the literal early."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from adapters.sql.dialects import build_engine
from adapters.sql.statements import array_literal, pg_literal
from adapters.sql.verbatim import escape_nul
from tests.conftest import database_url

pytestmark = pytest.mark.postgres

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40).map(
    escape_nul)  # NUL never reaches PostgreSQL text: it is escaped first
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@pytest.fixture(scope="module")
def postgres_engine(
    database_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    engine = build_engine(database_url("postgres", database_urls,
                                       tmp_path_factory.mktemp("literals")))
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def cursor(postgres_engine: Engine) -> Iterator[object]:
    raw = postgres_engine.raw_connection()
    raw.driver_connection.autocommit = True  # type: ignore[union-attr]
    try:
        cur = raw.cursor()
        yield cur
        cur.close()
    finally:
        raw.close()


def _one(cursor: object, sql: str) -> object:
    cursor.execute(sql)  # type: ignore[attr-defined]
    return cursor.fetchone()[0]  # type: ignore[attr-defined]


@settings(max_examples=300, deadline=None)
@given(value=TEXT)
def test_text_literals_read_back_exactly(cursor: object, value: str) -> None:
    assert _one(cursor, f"SELECT CAST({pg_literal(value)} AS text)") == value


@settings(max_examples=200, deadline=None)
@given(value=INT64)
def test_integer_literals_read_back_exactly(cursor: object, value: int) -> None:
    assert _one(cursor, f"SELECT CAST({pg_literal(value)} AS bigint)") == value


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.one_of(st.none(), TEXT), max_size=8))
def test_text_array_literals_read_back_exactly(cursor: object, values: list[str | None]) -> None:
    literal = pg_literal(array_literal(values))
    assert _one(cursor, f"SELECT CAST({literal} AS text[])") == values


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.one_of(st.none(), INT64), max_size=8),
       flags=st.lists(st.booleans(), max_size=4))
def test_number_and_boolean_array_literals_read_back_exactly(
    cursor: object, values: list[int | None], flags: list[bool]
) -> None:
    assert _one(cursor, f"SELECT CAST({pg_literal(array_literal(values))} AS bigint[])") \
        == values
    assert _one(cursor, f"SELECT CAST({pg_literal(array_literal(flags))} AS boolean[])") \
        == flags


def test_nul_and_unknown_types_are_refused() -> None:
    with pytest.raises(ValueError):
        pg_literal("a\x00b")
    with pytest.raises(TypeError):
        pg_literal(b"bytes")
    assert pg_literal(None) == "NULL" and pg_literal(True) == "true"
