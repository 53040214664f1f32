"""case keys for repeat appeals

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 19:20:59.767824
"""

import sqlalchemy as sa
from alembic import op

import daemon.db.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("opened_at", daemon.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"], name=op.f("fk_case_key_case_id_case")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_key")),
    )
    with op.batch_alter_table("case_key", schema=None) as batch_op:
        batch_op.create_index("ix_case_key_case", ["case_id"], unique=False)
        batch_op.create_index("ix_case_key_lookup", ["tenant", "key", "opened_at"], unique=False)



def downgrade() -> None:
    with op.batch_alter_table("case_key", schema=None) as batch_op:
        batch_op.drop_index("ix_case_key_lookup")
        batch_op.drop_index("ix_case_key_case")

    op.drop_table("case_key")
