"""cross checks

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 21:04:12.418305
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cross_checks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=True),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("peildatum", sa.Date(), nullable=False),
        sa.Column("check_id", sa.String(length=128), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("reference_peildatum", sa.Date(), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("missing", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("cross_checks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cross_checks_source"), ["source"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cross_checks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cross_checks_source"))

    op.drop_table("cross_checks")
