"""deliveries: the gemeente a file name names

A regional workspace holds the deliveries of several municipalities: a delivery replaces
the earlier one of its own source, gemeente and peildatum only. Deliveries from before
this revision name none (the workspace's one municipality).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("gemeentecode", sa.String(6), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("gemeentecode")
