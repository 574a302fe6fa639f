"""Core tables: one set for all users, `user_id` first in every key and index."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects import mysql

from adapters.sql.verbatim import VerbatimKey, VerbatimText

metadata = MetaData()

# Large verbatim text (note fields, JSON objects): TEXT is only 64 KiB on MySQL.
BigText = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
# SQLite only auto-increments an INTEGER PRIMARY KEY.
UserIdType = BigInteger().with_variant(Integer(), "sqlite")

# Case- and accent-sensitive text on MySQL, whose default collation folds case. Keys
# (VerbatimKey) are binary there: utf8mb4_bin still ignores trailing spaces.
TABLE_ARGS: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def _user_id() -> Column[int]:
    return Column("user_id", BigInteger, nullable=False)


def _int(name: str) -> Column[int]:
    return Column(name, BigInteger, nullable=False)


users = Table(
    "users",
    metadata,
    Column("user_id", UserIdType, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    _int("created"),
    # Quotas in MB: NULL takes the server's default, 0 means no limit.
    Column("quota_collection_mb", BigInteger, nullable=True),
    Column("quota_media_mb", BigInteger, nullable=True),
    Column("is_admin", Boolean, nullable=True),  # NULL: not an administrator
    # Ids name users in host keys and data: never hand a removed user's id out again.
    sqlite_autoincrement=True,
    **TABLE_ARGS,
)

# Failed logins per throttle key (a digest of a user name or a client address): shared
# by every worker and instance, so delays hold whichever one a client reaches.
login_failures = Table(
    "login_failures",
    metadata,
    Column("key_hash", String(64), primary_key=True),
    _int("failures"),
    _int("last_ms"),
    **TABLE_ARGS,
)

host_keys = Table(
    "host_keys",
    metadata,
    _user_id(),
    Column("key_hash", String(64), nullable=False),
    _int("created"),
    # What the key was issued to (KeyKind; NULL: a key from before kinds were kept,
    # taken for a device's), an API token's name, the client that last used it and when.
    Column("kind", String(8), nullable=True),
    Column("label", String(255), nullable=True),
    Column("client", String(255), nullable=True),
    Column("last_used", BigInteger, nullable=True),
    PrimaryKeyConstraint("user_id", "key_hash"),
    **TABLE_ARGS,
)

# Host keys another sync server gave devices, recorded by an import: they do not name
# their user as ours do, so the digest leads to the user (a small lookup table, also in
# `host_keys` so every check of a key works the same way).
imported_host_keys = Table(
    "imported_host_keys",
    metadata,
    Column("key_hash", String(64), primary_key=True),
    _user_id(),
    Index("ix_imported_host_keys_user", "user_id"),
    **TABLE_ARGS,
)

collections = Table(
    "collections",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    _int("crt"),
    _int("mtime"),
    _int("scm"),
    _int("ver"),
    _int("dty"),
    _int("usn"),
    _int("ls"),
    # Row counts for the sanity check, kept by every write so a sync never counts rows.
    *(Column(f"n_{name}", BigInteger, nullable=False, server_default="0") for name in (
        "cards", "notes", "revlog", "notetypes", "decks", "deck_configs")),
    # The highest usn of the collection's graves (-1: none), kept by every write of one:
    # a sync whose device has seen them all need not look for deletions to send.
    Column("graves_usn", BigInteger, nullable=False, server_default="-1"),
    # Changes with every write of the collection: a random start at create and replace,
    # one more at every write after. Copies of the collection (a built download) carry
    # the generation they were made from, and are good while it is the current one.
    Column("generation", BigInteger, nullable=False, server_default="0"),
    **TABLE_ARGS,
)

config = Table(
    "config",
    metadata,
    _user_id(),
    Column("key", VerbatimKey(700), nullable=False),
    _int("usn"),
    _int("mtime"),
    Column("val", BigText, nullable=False),
    PrimaryKeyConstraint("user_id", "key"),
    Index("ix_config_usn", "user_id", "usn"),
    **TABLE_ARGS,
)


def _json_object_table(name: str) -> Table:
    return Table(
        name,
        metadata,
        _user_id(),
        _int("id"),
        Column("name", VerbatimText(), nullable=False),
        _int("mtime"),
        _int("usn"),
        Column("json", BigText, nullable=False),
        PrimaryKeyConstraint("user_id", "id"),
        Index(f"ix_{name}_usn", "user_id", "usn"),
        **TABLE_ARGS,
    )


notetypes = _json_object_table("notetypes")
decks = _json_object_table("decks")
deck_configs = _json_object_table("deck_configs")

tags = Table(
    "tags",
    metadata,
    _user_id(),
    Column("tag", VerbatimKey(700), nullable=False),
    _int("usn"),
    Column("collapsed", Boolean, nullable=False),
    PrimaryKeyConstraint("user_id", "tag"),
    Index("ix_tags_usn", "user_id", "usn"),
    **TABLE_ARGS,
)

notes = Table(
    "notes",
    metadata,
    _user_id(),
    _int("id"),
    Column("guid", VerbatimText(), nullable=False),
    _int("mid"),
    _int("mtime"),
    _int("usn"),
    Column("tags", VerbatimText(big=True), nullable=False),
    Column("flds", VerbatimText(big=True), nullable=False),
    Column("sfld", VerbatimText(big=True), nullable=False),
    _int("csum"),
    _int("flags"),
    Column("data", VerbatimText(big=True), nullable=False),
    PrimaryKeyConstraint("user_id", "id"),
    Index("ix_notes_usn", "user_id", "usn"),
    Index("ix_notes_csum", "user_id", "csum"),  # AnkiConnect's duplicate check
    **TABLE_ARGS,
)

cards = Table(
    "cards",
    metadata,
    _user_id(),
    _int("id"),
    _int("nid"),
    _int("did"),
    _int("ord"),
    _int("mtime"),
    _int("usn"),
    _int("type"),
    _int("queue"),
    _int("due"),
    _int("ivl"),
    _int("factor"),
    _int("reps"),
    _int("lapses"),
    _int("left"),
    _int("odue"),
    _int("odid"),
    _int("flags"),
    Column("data", VerbatimText(big=True), nullable=False),
    PrimaryKeyConstraint("user_id", "id"),
    Index("ix_cards_usn", "user_id", "usn"),
    Index("ix_cards_nid", "user_id", "nid"),
    **TABLE_ARGS,
)

revlog = Table(
    "revlog",
    metadata,
    _user_id(),
    _int("id"),
    _int("cid"),
    _int("usn"),
    _int("ease"),
    _int("ivl"),
    _int("last_ivl"),
    _int("factor"),
    _int("time"),
    _int("type"),
    PrimaryKeyConstraint("user_id", "id"),
    Index("ix_revlog_usn", "user_id", "usn"),
    **TABLE_ARGS,
)

graves = Table(
    "graves",
    metadata,
    _user_id(),
    _int("kind"),
    _int("oid"),
    _int("usn"),
    PrimaryKeyConstraint("user_id", "kind", "oid"),
    Index("ix_graves_usn", "user_id", "usn"),
    **TABLE_ARGS,
)

sync_sessions = Table(
    "sync_sessions",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("skey", String(64), nullable=False),
    Column("phase", Integer, nullable=False),
    _int("server_usn"),
    _int("client_usn"),
    Column("client_is_newer", Boolean, nullable=False),
    _int("touched_ms"),
    Column("chunk_stage", Integer, nullable=False),
    Column("chunk_after_usn", BigInteger, nullable=True),
    Column("chunk_after_id", BigInteger, nullable=True),
    Column("client_done", Boolean, nullable=False),
    Column("staged_kinds", Integer, nullable=True),  # a bit per StageKind; NULL: unknown
    **TABLE_ARGS,
)

sync_staging = Table(
    "sync_staging",
    metadata,
    _user_id(),
    Column("kind", Integer, nullable=False),
    Column("okey", VerbatimKey(700), nullable=False),
    Column("payload", BigText, nullable=False),
    Column("oid", BigInteger, nullable=True),  # the id of a staged row (revlog, card, note)
    PrimaryKeyConstraint("user_id", "kind", "okey"),
    **TABLE_ARGS,
)

media_files = Table(
    "media_files",
    metadata,
    _user_id(),
    Column("fname", VerbatimKey(255), nullable=False),
    Column("sha1", String(40), nullable=False),  # "" once deleted
    _int("size"),
    _int("usn"),
    PrimaryKeyConstraint("user_id", "fname"),
    Index("ix_media_files_usn", "user_id", "usn"),
    Index("ix_media_files_sha1", "user_id", "sha1"),
    **TABLE_ARGS,
)

media_state = Table(
    "media_state",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    _int("usn"),
    _int("file_count"),
    **TABLE_ARGS,
)

# Every table holding part of a user's collection, in a safe deletion order.
COLLECTION_TABLES = (revlog, cards, notes, graves, tags, config, deck_configs, decks, notetypes)
