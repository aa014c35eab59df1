"""Tables of the recordings domain: one row per recorded meeting, one per
verified segment, one per incident that explains a gap (the table names
keep their media_ prefix from when recordings lived in the media plane).

Meeting ids come from the control plane (UUID strings); no foreign key is
declared so that recordings of a meeting outlive any change to the meetings
table and backfilled segments may arrive before the meeting row syncs.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, Index, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, UTCDateTime, utcnow


class MeetingRecording(Base):
    __tablename__ = "media_recordings"

    meeting_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    branch_id: Mapped[int] = mapped_column(Integer, index=True)
    meeting_type: Mapped[str] = mapped_column(String(64), default="default")
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    segments_rejected: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    duplicates_dropped: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class RecordedSegment(Base):
    __tablename__ = "media_segments"
    __table_args__ = (Index("ix_media_segments_meeting_start", "meeting_id", "started_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    meeting_id: Mapped[str] = mapped_column(String(36))
    branch_id: Mapped[int] = mapped_column(Integer, index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    duration: Mapped[float] = mapped_column(Float)
    path: Mapped[str] = mapped_column(String(512))
    size: Mapped[int] = mapped_column(Integer)
    init_size: Mapped[int] = mapped_column(Integer, default=0)
    container: Mapped[str] = mapped_column(String(8))
    video_codec: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16), default="live")
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    has_audio: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RecordingIncident(Base):
    """Something that stopped or spoiled recording at a moment of a meeting:
    `no_uplink`, `hub_restart`, `disk_full`, `rejected` (an undecodable
    segment). Gaps in the timeline are explained by these."""

    __tablename__ = "recording_incidents"
    __table_args__ = (Index("ix_recording_incidents_meeting_at", "meeting_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    meeting_id: Mapped[str] = mapped_column(String(36))
    branch_id: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(500), default="")
