"""raw bytes of stored messages in a table of their own

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 17:10:00

Kept in the message row, the bytes made every status update of a message rewrite them (SQLite writes a
changed row out whole, overflow pages included). The copy keeps every byte; the column goes with a
native ALTER TABLE … DROP COLUMN (SQLite 3.35+, PostgreSQL), not a batch table copy: recreating
`message` would have to drop a table other tables' foreign keys point at.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_raw",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["id"], ["message.id"], name=op.f("fk_message_raw_id_message"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_raw")),
    )
    op.execute("INSERT INTO message_raw (id, raw) SELECT id, raw FROM message")
    op.execute("ALTER TABLE message DROP COLUMN raw")


def downgrade() -> None:
    blob = "BYTEA" if op.get_bind().dialect.name == "postgresql" else "BLOB"
    op.execute(f"ALTER TABLE message ADD COLUMN raw {blob}")
    op.execute("UPDATE message SET raw = (SELECT raw FROM message_raw WHERE message_raw.id = message.id)")
    op.drop_table("message_raw")
