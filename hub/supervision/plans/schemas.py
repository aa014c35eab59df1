from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class PlanItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    meeting_type: str
    planned_date: date
    topic: str = Field(min_length=1, max_length=300)
    form: str = Field(min_length=1, max_length=100)


class PlanCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    branch_id: int
    kind: str = Field(pattern="^(annual|monthly)$")
    year: int = Field(ge=2000, le=2100)
    month: int | None = Field(default=None, ge=1, le=12)
    items: list[PlanItemIn] = Field(min_length=1, max_length=400)


class PlanRevise(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[PlanItemIn] = Field(min_length=1, max_length=400)


class PlanReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: str = Field(pattern="^(approve|return)$")
    reason: str = Field(default="", max_length=2000)


class PlanItemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    meeting_type: str
    planned_date: date
    topic: str
    form: str


class PlanReviewRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    revision: int
    decision: str
    reason: str
    reviewer: str
    at: datetime


class PlanRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    branch_id: int
    branch_name: str = ""
    kind: str
    year: int
    month: int
    status: str
    revision: int
    return_reason: str | None
    submitted_by: str
    submitted_at: datetime
    reviewed_by: str | None
    reviewed_at: datetime | None
    items: list[PlanItemRead] = []
    reviews: list[PlanReviewRead] = []


class PlanVsActualRow(BaseModel):
    item_id: int | None
    meeting_type: str
    planned_date: date | None
    topic: str
    status: str  # held | not_held | upcoming | unplanned
    meeting_id: str | None
    held_on: date | None


class PlanVsActual(BaseModel):
    plan_id: int
    planned: int
    held: int
    rows: list[PlanVsActualRow]
