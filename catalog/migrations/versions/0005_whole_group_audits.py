"""disclosure audits count the cells shown to hold their whole group

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Audits recorded before udc checked group disclosure keep None: not looked at.
    with op.batch_alter_table("disclosure_audits") as batch:
        batch.add_column(sa.Column("whole_groups", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("disclosure_audits") as batch:
        batch.drop_column("whole_groups")
