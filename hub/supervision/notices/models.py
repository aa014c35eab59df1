"""Notices (通报) of rectification items not closed by their deadline."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, UTCDateTime, utcnow

STATUSES = ("draft", "published")


class Notice(Base):
    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    scope_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    body: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default="draft")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_by: Mapped[str | None] = mapped_column(String(100))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class NoticeItem(Base):
    """An item as the notice printed it (a snapshot: the ledger may move on)."""

    __tablename__ = "notice_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("rectification_items.id"))
    branch_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    branch_name: Mapped[str] = mapped_column(String(200))
    problem: Mapped[str] = mapped_column(Text)
    deadline: Mapped[date] = mapped_column(Date)
    responsible: Mapped[str] = mapped_column(String(100))
    days_overdue: Mapped[int] = mapped_column()
    closed_on: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (UniqueConstraint("notice_id", "item_id", name="uq_notice_items_notice_item"),)
