"""disclosure audits of mart releases

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "disclosure_audits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("mart", sa.String(length=64), nullable=False),
        sa.Column("release_id", sa.String(length=64), nullable=False),
        sa.Column("measure", sa.String(length=64), nullable=False),
        sa.Column("cells", sa.Integer(), nullable=False),
        sa.Column("suppressed", sa.Integer(), nullable=False),
        sa.Column("exact", sa.Integer(), nullable=False),
        sa.Column("too_narrow", sa.Integer(), nullable=False),
        sa.Column("required_width", sa.Integer(), nullable=False),
        sa.Column("min_width", sa.Float(), nullable=True),
        sa.Column("audited_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_disclosure_audits_mart", "disclosure_audits", ["mart"])


def downgrade() -> None:
    op.drop_index("ix_disclosure_audits_mart", table_name="disclosure_audits")
    op.drop_table("disclosure_audits")
