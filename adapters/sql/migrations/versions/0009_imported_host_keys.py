"""Host keys devices got from another sync server, recorded when their user is imported.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "imported_host_keys",
        sa.Column("key_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_index("ix_imported_host_keys_user", "imported_host_keys", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_imported_host_keys_user", "imported_host_keys")
    op.drop_table("imported_host_keys")
