"""Per-user quotas: the largest collection and the most media bytes a user may store, in
MB; NULL takes the server's default, 0 means no limit.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("quota_collection_mb", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("quota_media_mb", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("quota_media_mb")
        batch.drop_column("quota_collection_mb")
