"""Media sync: the per-user media index and its usn.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ARGS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade() -> None:
    op.create_table(
        "media_files",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("fname", sa.String(255).with_variant(sa.Text(), "postgresql"), nullable=False),
        sa.Column("sha1", sa.String(40), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("usn", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "fname"),
        **ARGS,
    )
    op.create_index("ix_media_files_usn", "media_files", ["user_id", "usn"])
    op.create_index("ix_media_files_sha1", "media_files", ["user_id", "sha1"])
    op.create_table(
        "media_state",
        sa.Column("user_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("usn", sa.BigInteger(), nullable=False),
        sa.Column("file_count", sa.BigInteger(), nullable=False),
        **ARGS,
    )


def downgrade() -> None:
    op.drop_table("media_state")
    op.drop_table("media_files")
