"""An index on each user's notes by first-field checksum (`csum`): AnkiConnect's
duplicate check (every addNote and canAddNotes, which Yomitan sends on each lookup)
finds its notes through it instead of reading the whole collection.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_notes_csum", "notes", ["user_id", "csum"])


def downgrade() -> None:
    op.drop_index("ix_notes_csum", "notes")
