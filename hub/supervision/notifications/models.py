"""The notification outbox: every message to a member or secretary is a
row first, then a delivery attempt. The row's `key` is the idempotency key
the SMS gateway sees, so a retried message is the same message."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, UTCDateTime, utcnow

CHANNELS = ("app", "sms")
# queued -> sending -> sent | queued (retry, next_attempt_at later) | failed
STATUSES = ("queued", "sending", "sent", "failed", "read")


class Notification(Base):
    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(36), unique=True)
    # Why the message exists, e.g. "reminder:12:committee:2025-03:app";
    # unique so that no scheduler run or repeated click queues it twice.
    dedupe: Mapped[str | None] = mapped_column(String(200), unique=True)
    channel: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(30))
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    # An in-app message delivered to a signed-in account (a branch secretary's inbox).
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id"), index=True)
    meeting_id: Mapped[str | None] = mapped_column(String(36))
    recipient: Mapped[str] = mapped_column(String(100), default="")
    phone: Mapped[str | None] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(100), default="system")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_notifications_status_next", "status", "next_attempt_at"),)
