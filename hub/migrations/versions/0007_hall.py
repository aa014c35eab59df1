"""hall: a meeting started by a second device of a branch joins the open one

Revision ID: 0007
Revises: 0004_fingerprints
Create Date: 2026-11-30 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
# The task names "0004"; the coordinator re-chains parallel migrations.
down_revision = "0004_fingerprints"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("meetings") as batch:
        batch.add_column(sa.Column("merged_into", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("meetings") as batch:
        batch.drop_column("merged_into")
