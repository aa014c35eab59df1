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
    # Plain ADD COLUMN (not batch mode): on SQLite a batch would copy and drop
    # org_units, which every other table references.
    op.add_column("org_units", sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()))
    op.add_column("members", sa.Column("committee_role", sa.String(length=40), nullable=True))


def downgrade() -> None:
    op.drop_column("members", "committee_role")
    op.drop_column("org_units", "active")
