"""Staged rows keep their id as a number, so the sanity check and `finish` can join them
to the live tables in one query. Syncs in progress during the upgrade are ended (their
sessions and staged data dropped): the devices' next request gets "sync in progress
elsewhere" and they simply sync again.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM sync_staging")
    op.execute("DELETE FROM sync_sessions")
    with op.batch_alter_table("sync_staging") as batch:
        batch.add_column(sa.Column("oid", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_staging") as batch:
        batch.drop_column("oid")
