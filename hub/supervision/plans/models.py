"""Meeting plans: a branch's annual and monthly plans, reviewed in advance
(预审) by its township."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, UTCDateTime, utcnow

KINDS = ("annual", "monthly")
# The review round trip (组织生活预审), as a table in hub/supervision/plans/service.py:
#   file -> submitted -> approved | returned;  returned -> (revised) resubmitted -> approved | returned
STATUSES = ("submitted", "resubmitted", "approved", "returned")


class MeetingPlan(Base):
    __tablename__ = "meeting_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    year: Mapped[int] = mapped_column(Integer)
    month: Mapped[int] = mapped_column(Integer, default=0)  # 0 for an annual plan
    status: Mapped[str] = mapped_column(String(12), default="submitted")
    revision: Mapped[int] = mapped_column(Integer, default=1)
    return_reason: Mapped[str | None] = mapped_column(Text)
    submitted_by: Mapped[str] = mapped_column(String(100))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reviewed_by: Mapped[str | None] = mapped_column(String(100))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("branch_id", "kind", "year", "month", name="uq_meeting_plans_period"),)


class PlanItem(Base):
    __tablename__ = "meeting_plan_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("meeting_plans.id"), index=True)
    meeting_type: Mapped[str] = mapped_column(String(40))
    planned_date: Mapped[date] = mapped_column(Date)
    topic: Mapped[str] = mapped_column(String(300))
    form: Mapped[str] = mapped_column(String(100))  # 集中学习, 专题讨论, 参观见学, 志愿服务 ...


class PlanReview(Base):
    """Every decision on every revision, for the round trip's history."""

    __tablename__ = "meeting_plan_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("meeting_plans.id"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str] = mapped_column(String(10))  # approved | returned
    reason: Mapped[str] = mapped_column(Text, default="")
    reviewer: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
