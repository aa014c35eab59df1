from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, UTCDateTime, utcnow

STATUSES = ("full", "probationary")  # 正式 / 预备


class Member(Base):
    __tablename__ = "members"

    id: Mapped[int] = mapped_column(primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    member_no: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(20), default="full")
    excused: Mapped[bool] = mapped_column(Boolean, default=False)
    excused_reason: Mapped[str | None] = mapped_column(String(200))
    committee: Mapped[bool] = mapped_column(Boolean, default=False)
    # 书记 / 副书记 / 组织委员 ...: free text, local practice differs.
    committee_role: Mapped[str | None] = mapped_column(String(40))
    # Removed from the roster (moved away, died): kept for history, not
    # counted, cannot check in.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
