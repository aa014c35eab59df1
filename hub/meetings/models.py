from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, UTCDateTime, utcnow

STATUSES = ("scheduled", "live", "ended", "cancelled", "merged")


class Meeting(Base):
    """Ids are UUID strings so an edge agent can open a meeting while offline."""

    __tablename__ = "meetings"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    meeting_type: Mapped[str] = mapped_column(String(40))
    topic: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(String(20), default="scheduled")
    scheduled_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    scheduled_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Kept past retention, e.g. a meeting under review (headcount far below
    # check-ins, or picked by an inspector).
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_reason: Mapped[str | None] = mapped_column(String(300))
    started_by_device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))
    max_headcount: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A second device of the branch started its own meeting while one was
    # open (both offline, say): its id is kept and points at the open one,
    # so what it sends under its id lands in the branch's one meeting.
    merged_into: Mapped[str | None] = mapped_column(String(36))

    __table_args__ = (Index("ix_meetings_branch_status", "branch_id", "status"),)
