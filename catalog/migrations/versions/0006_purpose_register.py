"""the register of processing purposes, every version kept

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "purposes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("purpose_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("changed_by", sa.String(length=128), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("purpose_id", "version"),
    )
    op.create_index("ix_purposes_purpose_id", "purposes", ["purpose_id"])


def downgrade() -> None:
    op.drop_index("ix_purposes_purpose_id", table_name="purposes")
    op.drop_table("purposes")
