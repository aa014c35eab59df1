"""The rectification ledger (整改台账): one row per problem found, with its
evidence, deadline, responsible person and closing (销号)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, UTCDateTime, utcnow

SOURCES = ("video_inspection", "visit", "score_deduction", "compliance", "other")
STATUSES = ("open", "closed")


class RectificationItem(Base):
    __tablename__ = "rectification_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    source: Mapped[str] = mapped_column(String(30), default="video_inspection")
    problem: Mapped[str] = mapped_column(Text)  # 整改事项
    measures: Mapped[str] = mapped_column(Text)  # 整改措施
    deadline: Mapped[date] = mapped_column(Date, index=True)  # 整改时限
    responsible: Mapped[str] = mapped_column(String(100))  # 责任人
    status: Mapped[str] = mapped_column(String(10), default="open")
    # Evidence in a recording: the meeting and the offset into it (seconds).
    evidence_meeting_id: Mapped[str | None] = mapped_column(String(36))
    evidence_offset_s: Mapped[float | None] = mapped_column(Float)
    deduction_id: Mapped[int | None] = mapped_column(Integer)  # inspection_scores.id when opened from a deduction
    closed_on: Mapped[date | None] = mapped_column(Date)  # 完成销号时间
    verified_by: Mapped[str | None] = mapped_column(String(100))
    closing_note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class RectificationEvidence(Base):
    """A photo or document stored under the data directory."""

    __tablename__ = "rectification_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("rectification_items.id"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    stored_path: Mapped[str] = mapped_column(String(500))  # relative to the data directory
    uploaded_by: Mapped[str] = mapped_column(String(100))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
