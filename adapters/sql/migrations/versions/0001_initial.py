"""Users, host keys and the collection tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BIG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
# Keys: unlimited text on PostgreSQL; MySQL indexes need a length (700 chars utf8mb4).
KEY_TEXT = sa.String(700).with_variant(sa.Text(), "postgresql")
ARGS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def _ints(*names):
    return [sa.Column(n, sa.BigInteger(), nullable=False) for n in names]


def _user():
    return sa.Column("user_id", sa.BigInteger(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        *_ints("created"),
        sqlite_autoincrement=True,
        **ARGS,
    )
    op.create_table(
        "host_keys", _user(), sa.Column("key_hash", sa.String(64), nullable=False),
        *_ints("created"), sa.PrimaryKeyConstraint("user_id", "key_hash"), **ARGS,
    )
    op.create_table(
        "collections",
        sa.Column("user_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        *_ints("crt", "mtime", "scm", "ver", "dty", "usn", "ls"),
        **ARGS,
    )
    op.create_table(
        "config", _user(), sa.Column("key", KEY_TEXT, nullable=False),
        *_ints("usn", "mtime"), sa.Column("val", BIG_TEXT, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "key"), **ARGS,
    )
    op.create_index("ix_config_usn", "config", ["user_id", "usn"])
    for name in ("notetypes", "decks", "deck_configs"):
        op.create_table(
            name, _user(), *_ints("id"), sa.Column("name", sa.Text(), nullable=False),
            *_ints("mtime", "usn"), sa.Column("json", BIG_TEXT, nullable=False),
            sa.PrimaryKeyConstraint("user_id", "id"), **ARGS,
        )
        op.create_index(f"ix_{name}_usn", name, ["user_id", "usn"])
    op.create_table(
        "tags", _user(), sa.Column("tag", KEY_TEXT, nullable=False), *_ints("usn"),
        sa.Column("collapsed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "tag"), **ARGS,
    )
    op.create_index("ix_tags_usn", "tags", ["user_id", "usn"])
    op.create_table(
        "notes", _user(), *_ints("id"), sa.Column("guid", sa.Text(), nullable=False),
        *_ints("mid", "mtime", "usn"),
        sa.Column("tags", BIG_TEXT, nullable=False), sa.Column("flds", BIG_TEXT, nullable=False),
        sa.Column("sfld", BIG_TEXT, nullable=False), *_ints("csum", "flags"),
        sa.Column("data", BIG_TEXT, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "id"), **ARGS,
    )
    op.create_index("ix_notes_usn", "notes", ["user_id", "usn"])
    op.create_table(
        "cards", _user(),
        *_ints("id", "nid", "did", "ord", "mtime", "usn", "type", "queue", "due", "ivl",
               "factor", "reps", "lapses", "left", "odue", "odid", "flags"),
        sa.Column("data", BIG_TEXT, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "id"), **ARGS,
    )
    op.create_index("ix_cards_usn", "cards", ["user_id", "usn"])
    op.create_index("ix_cards_nid", "cards", ["user_id", "nid"])
    op.create_table(
        "revlog", _user(),
        *_ints("id", "cid", "usn", "ease", "ivl", "last_ivl", "factor", "time", "type"),
        sa.PrimaryKeyConstraint("user_id", "id"), **ARGS,
    )
    op.create_index("ix_revlog_usn", "revlog", ["user_id", "usn"])
    op.create_table(
        "graves", _user(), *_ints("kind", "oid", "usn"),
        sa.PrimaryKeyConstraint("user_id", "kind", "oid"), **ARGS,
    )
    op.create_index("ix_graves_usn", "graves", ["user_id", "usn"])


def downgrade() -> None:
    for name in ("graves", "revlog", "cards", "notes", "tags", "deck_configs", "decks",
                 "notetypes", "config", "collections", "host_keys", "users"):
        op.drop_table(name)
