"""Normal sync: session and staging tables, and row counts on collections.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BIG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
# Keys: unlimited text on PostgreSQL; MySQL indexes need a length (700 chars utf8mb4).
KEY_TEXT = sa.String(700).with_variant(sa.Text(), "postgresql")
ARGS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}
COUNTED = {
    "cards": "cards", "notes": "notes", "revlog": "revlog", "notetypes": "notetypes",
    "decks": "decks", "deck_configs": "deck_configs",
}


def upgrade() -> None:
    with op.batch_alter_table("collections") as batch:
        for name in COUNTED:
            batch.add_column(
                sa.Column(f"n_{name}", sa.BigInteger(), nullable=False, server_default="0")
            )
    for name, table in COUNTED.items():
        op.execute(
            f"UPDATE collections SET n_{name} = (SELECT COUNT(*) FROM {table} "
            f"WHERE {table}.user_id = collections.user_id)"
        )
    op.create_table(
        "sync_sessions",
        sa.Column("user_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("skey", sa.String(64), nullable=False),
        sa.Column("phase", sa.Integer(), nullable=False),
        sa.Column("server_usn", sa.BigInteger(), nullable=False),
        sa.Column("client_usn", sa.BigInteger(), nullable=False),
        sa.Column("client_is_newer", sa.Boolean(), nullable=False),
        sa.Column("touched_ms", sa.BigInteger(), nullable=False),
        sa.Column("chunk_stage", sa.Integer(), nullable=False),
        sa.Column("chunk_after_usn", sa.BigInteger(), nullable=True),
        sa.Column("chunk_after_id", sa.BigInteger(), nullable=True),
        sa.Column("client_done", sa.Boolean(), nullable=False),
        **ARGS,
    )
    op.create_table(
        "sync_staging",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("okey", KEY_TEXT, nullable=False),
        sa.Column("payload", BIG_TEXT, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "kind", "okey"),
        **ARGS,
    )


def downgrade() -> None:
    op.drop_table("sync_staging")
    op.drop_table("sync_sessions")
    with op.batch_alter_table("collections") as batch:
        for name in COUNTED:
            batch.drop_column(f"n_{name}")
