"""Inspection score sheets: templates (categories of items with maximum
points) and inspections (a group's deductions for one branch)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, UTCDateTime, utcnow


class ScoreTemplate(Base):
    __tablename__ = "score_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(100), default="system")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ScoreCategory(Base):
    __tablename__ = "score_categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("score_templates.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    max_points: Mapped[float] = mapped_column(Float)
    position: Mapped[int] = mapped_column(Integer, default=0)


class ScoreItem(Base):
    __tablename__ = "score_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("score_categories.id"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    max_points: Mapped[float] = mapped_column(Float)
    guidance: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)


class Inspection(Base):
    __tablename__ = "inspections"

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("score_templates.id"))
    branch_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    group_name: Mapped[str] = mapped_column(String(100))  # 督查组 / 指导组
    inspected_on: Mapped[date] = mapped_column(Date, index=True)
    total: Mapped[float] = mapped_column(Float)
    max_total: Mapped[float] = mapped_column(Float)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InspectionScore(Base):
    """A deduction on one item (items without a row got full marks)."""

    __tablename__ = "inspection_scores"

    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("inspections.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("score_items.id"))
    deduction: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text, default="")
    rectification_id: Mapped[int | None] = mapped_column(ForeignKey("rectification_items.id"))

    __table_args__ = (UniqueConstraint("inspection_id", "item_id", name="uq_inspection_scores_item"),)
