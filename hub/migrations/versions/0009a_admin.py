"""administration pages: deactivated organisation units, committee roles

Revision ID: 0009a
Revises: 0008
Create Date: 2026-11-30 15:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009a"
# Grows from the fleet head (devices, members and units all sit on the core tables).
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("org_units", schema=None) as batch_op:
        batch_op.add_column(sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()))
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("committee_role", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_column("committee_role")
    with op.batch_alter_table("org_units", schema=None) as batch_op:
        batch_op.drop_column("active")
