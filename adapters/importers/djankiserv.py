"""djankiserv's data: Django's `auth_user` and `django_session`, a collection per user in
Anki's schema-11 layout (a PostgreSQL schema, or a MySQL database, named as the user),
and a media folder per user under its data root.

A user's collection tables are Anki's, with columns renamed where SQL reserves the name
(`modified` for mod, `remaining` for left, `lastivl`, `rtime` for time) and text where
Anki keeps numbers (sfld, csum); `media(fname, usn, csum)` lists the files, a NULL csum
marking a deletion. The host key a device holds is the key of a Django session whose
data names the user.
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, NoSuchModuleError

from adapters.ankifile.writer import DDL, INDEXES, create
from adapters.importers.source_files import ImportSourceError, unsized_entry
from adapters.sql.dialects import normalise_url
from domain.user_import import ImportedUser

# (table, SELECT list in Anki's column order) of a user's collection.
_TABLES = (
    ("col", "id, crt, modified, scm, ver, dty, usn, ls, conf, models, decks, dconf, tags"),
    ("notes", "id, guid, mid, modified, usn, tags, flds, sfld, csum, flags, data"),
    ("cards", "id, nid, did, ord, modified, usn, type, queue, due, ivl, factor, reps,"
              " lapses, remaining, odue, odid, flags, data"),
    ("revlog", "id, cid, usn, ease, ivl, lastivl, factor, rtime, type"),
    # No key in djankiserv: the same deletion may be listed twice.
    ("graves", "max(usn), oid, type"),
)


class DjankiservData:
    """Reads users from a djankiserv database (and the media under `media_root`)."""

    def __init__(self, database_url: str, media_root: Path,
                 userdata_url: str | None = None) -> None:
        if not media_root.is_dir():
            raise ImportSourceError(f"{media_root} is not a folder (give djankiserv's"
                                    " DJANKISERV_DATA_ROOT)")
        self.media_root = media_root
        self._main = _engine(database_url)
        self._userdata_url = make_url(normalise_url(userdata_url or database_url))
        self._userdata = self._main if userdata_url is None else _engine(userdata_url)
        self.backend = self._userdata.dialect.name
        self._sessions: dict[str, list[str]] | None = None  # read once, for every user

    def close(self) -> None:
        self._main.dispose()
        self._userdata.dispose()

    def users(self) -> list[tuple[str, str]]:
        """(name, Django password hash) of every active user."""
        rows = _query(self._main, "SELECT username, password FROM auth_user"
                      " WHERE is_active ORDER BY username")
        return [(str(name), str(password)) for name, password in rows]

    def read(self, name: str, password: str, work: Path) -> tuple[ImportedUser, Path | None]:
        """The user's account, media and a collection file built from their tables
        (None if djankiserv never made their collection). Raises `ImportSourceError`."""
        collection = self._collection(name, work / "collection.anki2")
        rows = self._user_rows(name, "SELECT fname, csum, usn FROM {}.media") \
            if collection is not None else []
        folder = self.media_root / name
        media = [unsized_entry(folder, fname, csum, usn) for fname, csum, usn in rows]
        media_usn = max((int(usn) for _, _, usn in rows), default=0)
        return ImportedUser(name=name, password_hash=django_hash(password),
                            media_usn=media_usn, media=media,
                            host_keys=self._host_keys(name)), collection

    def _collection(self, name: str, path: Path) -> Path | None:
        try:
            data = {table: self._user_rows(name, f"SELECT {columns} FROM {{}}.{table}"
                                           + (" GROUP BY oid, type" if table == "graves"
                                              else ""))
                    for table, columns in _TABLES}
        except _NoCollection:
            return None
        con = sqlite3.connect(path)
        try:
            create(con, DDL)
            for table, columns in _TABLES:
                marks = ",".join("?" * len(columns.split(",")))
                con.executemany(f"INSERT INTO {table} VALUES ({marks})", data[table])
            create(con, INDEXES)
            con.commit()
        except sqlite3.Error as e:
            raise ImportSourceError(f"the collection of {name} cannot be read: {e}") from e
        finally:
            con.close()
        return path

    def _user_rows(self, name: str, sql: str) -> list[tuple[Any, ...]]:
        """Run `sql` with `{}` standing for the user's schema (PostgreSQL folds the name
        djankiserv gave it, unquoted, to lower case) or database (MySQL)."""
        if not name.isidentifier() or not name.isascii():
            raise _NoCollection  # djankiserv could not make a collection for such names
        owner = name.lower() if self.backend == "postgresql" else name
        try:
            with self._userdata.connect() as conn:
                if not _exists(conn, owner):
                    raise _NoCollection
                return [tuple(r) for r in conn.execute(text(sql.format(_quoted(conn, owner))))]
        except DBAPIError as e:
            raise ImportSourceError(f"cannot read the collection of {name}:"
                                    f" {str(e.orig).strip().splitlines()[0]}") from e

    def _host_keys(self, name: str) -> list[str]:
        """Keys of the unexpired sync sessions djankiserv gave the user's devices."""
        if self._sessions is None:
            self._sessions = {}
            rows = _query(self._main, "SELECT session_key, session_data, expire_date"
                          " FROM django_session")
            now = datetime.now(UTC)
            for key, data, expires in rows:
                if expires is not None and _aware(expires) < now:
                    continue
                session = read_session(str(data))
                if session.get("skey") == key and isinstance(session.get("name"), str):
                    self._sessions.setdefault(session["name"], []).append(str(key))
        return self._sessions.get(name, [])


class _NoCollection(Exception):
    pass


def _engine(url: str) -> Engine:
    try:
        return create_engine(normalise_url(url))
    except (NoSuchModuleError, ValueError) as e:
        raise ImportSourceError(f"cannot use the database URL: {e}") from e


def _query(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    except DBAPIError as e:
        raise ImportSourceError("cannot read djankiserv's database:"
                                f" {str(e.orig).strip().splitlines()[0]}") from e


def _exists(conn: Connection, owner: str) -> bool:
    found = conn.execute(text("SELECT count(*) FROM information_schema.schemata"
                              " WHERE schema_name = :name"), {"name": owner}).scalar()
    return bool(found)


def _quoted(conn: Connection, owner: str) -> str:
    return str(conn.dialect.identifier_preparer.quote_identifier(owner))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def django_hash(encoded: str) -> str:
    """The stored form of a Django password hash: PBKDF2 ones as they are; Django's
    argon2 ones (`argon2$argon2id$…`) are standard argon2 hashes once unprefixed."""
    return encoded.removeprefix("argon2") if encoded.startswith("argon2$argon2") \
        else encoded


def read_session(data: str) -> dict[str, Any]:
    """The payload of a Django session (`payload:timestamp:signature`, the payload
    urlsafe-base64 JSON, zlib-compressed when it starts with a dot); {} if unreadable.
    The signature is not checked: the rows come from djankiserv's own database."""
    payload = data.split(":", 1)[0]
    compressed, payload = payload.startswith("."), payload.lstrip(".")
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        value = json.loads(zlib.decompress(raw) if compressed else raw)
    except (binascii.Error, zlib.error, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
