"""quality checks: whether a check held, and what it checks

A check about the delivery as a whole (its row count against the previous delivery, an
aggregate a data steward configured) fails without failed rows, so the failed count alone
does not say whether it held.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("quality_checks") as batch:
        batch.add_column(
            sa.Column("passed", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.add_column(
            sa.Column("row_level", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.add_column(sa.Column("description", sa.Text(), nullable=True))
    # Before this revision every check was about rows: one that failed rows did not hold.
    quality_checks = sa.table("quality_checks", sa.column("passed"), sa.column("failed_count"))
    op.execute(
        quality_checks.update().where(quality_checks.c.failed_count > 0).values(passed=False)
    )


def downgrade() -> None:
    with op.batch_alter_table("quality_checks") as batch:
        batch.drop_column("description")
        batch.drop_column("row_level")
        batch.drop_column("passed")
