"""What each host key was issued to (device, browser session, API token), its name, the
client that last used it and when; and which users are administrators.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("host_keys") as batch:
        batch.add_column(sa.Column("kind", sa.String(8), nullable=True))
        batch.add_column(sa.Column("label", sa.String(255), nullable=True))
        batch.add_column(sa.Column("client", sa.String(255), nullable=True))
        batch.add_column(sa.Column("last_used", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("is_admin", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("is_admin")
    with op.batch_alter_table("host_keys") as batch:
        batch.drop_column("last_used")
        batch.drop_column("client")
        batch.drop_column("label")
        batch.drop_column("kind")
