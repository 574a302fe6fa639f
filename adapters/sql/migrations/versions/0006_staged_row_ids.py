"""Staged rows keep their id as a number, so the sanity check and `finish` can join them
to the live tables in one query; a collection remembers the highest usn of its deletions
(graves), so a sync that starts with nothing to delete skips looking, and a generation
that changes with every write, so a full download can be sent from a file built before.
Syncs in progress during the upgrade are ended (their sessions and staged data dropped):
the devices' next request gets "sync in progress elsewhere" and they simply sync again.

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
    with op.batch_alter_table("collections") as batch:
        batch.add_column(sa.Column("graves_usn", sa.BigInteger(), nullable=False,
                                   server_default="-1"))
        batch.add_column(sa.Column("generation", sa.BigInteger(), nullable=False,
                                   server_default="0"))
    op.execute("UPDATE collections SET graves_usn = COALESCE((SELECT max(g.usn) FROM graves g"
               " WHERE g.user_id = collections.user_id), -1)")


def downgrade() -> None:
    with op.batch_alter_table("collections") as batch:
        batch.drop_column("generation")
        batch.drop_column("graves_usn")
    with op.batch_alter_table("sync_staging") as batch:
        batch.drop_column("oid")
