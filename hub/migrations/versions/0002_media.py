"""media plane: recorded meetings and their segments

Revision ID: 0002_media
Revises: 0001_core
Create Date: 2026-11-22 12:00:00
"""

import sqlalchemy as sa
from alembic import op

import hub.db

revision = "0002_media"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "media_recordings",
        sa.Column("meeting_id", sa.String(length=36), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("meeting_type", sa.String(length=64), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("started_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("meeting_id", name=op.f("pk_media_recordings")),
    )
    op.create_index(op.f("ix_media_recordings_branch_id"), "media_recordings", ["branch_id"])
    op.create_table(
        "media_segments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("meeting_id", sa.String(length=36), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("started_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("init_size", sa.Integer(), nullable=False),
        sa.Column("container", sa.String(length=8), nullable=False),
        sa.Column("video_codec", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_segments")),
    )
    op.create_index(op.f("ix_media_segments_branch_id"), "media_segments", ["branch_id"])
    op.create_index("ix_media_segments_meeting_start", "media_segments", ["meeting_id", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_media_segments_meeting_start", table_name="media_segments")
    op.drop_index(op.f("ix_media_segments_branch_id"), table_name="media_segments")
    op.drop_table("media_segments")
    op.drop_index(op.f("ix_media_recordings_branch_id"), table_name="media_recordings")
    op.drop_table("media_recordings")
