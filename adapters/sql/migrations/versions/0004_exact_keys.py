"""Exact keys on MySQL/MariaDB: config keys, tags, staging keys and media file names.

utf8mb4_bin compares with PAD SPACE ('k' = 'k '), and VARCHAR(700) refused longer keys.
These columns become LONGBLOB, which compares byte for byte, with the primary key on
their first 3000 bytes (`adapters.sql.verbatim.KEY_PREFIX_BYTES`), which
`verbatim.encode_key` keeps unique. A stored key has at most 700 characters, 2800 bytes:
its UTF-8 bytes are already its encoded form, so the columns convert in place.
SQLite and PostgreSQL already compare text exactly and do not change.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

PREFIX_BYTES = 3000  # verbatim.KEY_PREFIX_BYTES when this was written: never change it here
# table, the primary key's columns before the key, the key column, its old length
KEYS = (
    ("config", "user_id", "key", 700),
    ("tags", "user_id", "tag", 700),
    ("sync_staging", "user_id, kind", "okey", 700),
    ("media_files", "user_id", "fname", 255),
)


def _is_mysql() -> bool:
    return op.get_bind().dialect.name in ("mysql", "mariadb")


def upgrade() -> None:
    if not _is_mysql():
        return
    for table, lead, column, _length in KEYS:
        op.execute(
            f"ALTER TABLE `{table}` DROP PRIMARY KEY,"
            f" MODIFY `{column}` LONGBLOB NOT NULL,"
            f" ADD PRIMARY KEY ({lead}, `{column}`({PREFIX_BYTES}))"
        )


def downgrade() -> None:
    # Fails (strict mode) rather than truncate or merge keys the old columns cannot hold:
    # longer ones, or ones that differ only in trailing spaces.
    if not _is_mysql():
        return
    for table, lead, column, length in KEYS:
        op.execute(
            f"ALTER TABLE `{table}` DROP PRIMARY KEY,"
            f" MODIFY `{column}` VARCHAR({length}) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            f" NOT NULL, ADD PRIMARY KEY ({lead}, `{column}`)"
        )
