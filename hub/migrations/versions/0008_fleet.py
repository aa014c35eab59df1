"""Fleet view: the agent version and settings digest each edge reports in hello.

Revision ID: 0008
Revises: 0004_fingerprints
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
# The release-0.1.0 head this grows from (its revision id is "0004_fingerprints").
down_revision = "0004_fingerprints"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("agent_version", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("settings_digest", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("settings_digest")
        batch.drop_column("agent_version")
