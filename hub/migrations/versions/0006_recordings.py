"""recordings domain: integrity counters, audio layout, incidents behind gaps

Revision ID: 0006
Revises: 0002_media
Create Date: 2026-11-30 12:00:00
"""

import sqlalchemy as sa
from alembic import op

import hub.db

revision = "0006"
# alters the tables 0002_media creates (the domain branches all start at 0001_core)
down_revision = "0002_media"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("media_recordings") as batch:
        batch.add_column(sa.Column("segments_rejected", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("duplicates_dropped", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("media_segments") as batch:
        batch.add_column(sa.Column("has_audio", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "recording_incidents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("meeting_id", sa.String(length=36), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recording_incidents")),
    )
    op.create_index("ix_recording_incidents_meeting_at", "recording_incidents", ["meeting_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_recording_incidents_meeting_at", table_name="recording_incidents")
    op.drop_table("recording_incidents")
    with op.batch_alter_table("media_segments") as batch:
        batch.drop_column("has_audio")
    with op.batch_alter_table("media_recordings") as batch:
        batch.drop_column("duplicates_dropped")
        batch.drop_column("segments_rejected")
