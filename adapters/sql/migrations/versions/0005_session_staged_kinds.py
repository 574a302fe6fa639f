"""Sync sessions remember which kinds of data they staged (a bit per kind).

`sanityCheck2`, `finish` and `applyChunk` then know what to read without asking the
staging table. NULL means unknown: a session begun before this migration, whose steps
ask the staging table as before.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_sessions") as batch:
        batch.add_column(sa.Column("staged_kinds", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_sessions") as batch:
        batch.drop_column("staged_kinds")
