from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class RectificationCreate(BaseModel):
    """Exactly what the dashboard's branch view posts (source is optional)."""

    model_config = ConfigDict(extra="forbid")
    branch_id: int
    problem: str = Field(min_length=2, max_length=2000)
    measures: str = Field(min_length=2, max_length=2000)
    deadline: date
    responsible: str = Field(min_length=1, max_length=100)
    evidence_meeting_id: str | None = Field(default=None, max_length=36)
    # Seconds into the recording, or the moment itself (ISO date-time).
    evidence_at: float | datetime | None = None
    source: str = Field(default="video_inspection", pattern="^(video_inspection|visit|score_deduction|compliance|other)$")


class RectificationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    measures: str | None = Field(default=None, min_length=2, max_length=2000)
    deadline: date | None = None
    responsible: str | None = Field(default=None, min_length=1, max_length=100)


class RectificationClose(BaseModel):
    model_config = ConfigDict(extra="forbid")
    closed_on: date | None = None  # default today
    note: str = Field(default="", max_length=2000)


class EvidenceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime


class RectificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    branch_id: int
    branch_name: str = ""
    source: str
    problem: str
    measures: str
    deadline: date
    responsible: str
    status: str
    overdue: bool = False
    evidence_meeting_id: str | None
    evidence_offset_s: float | None
    deduction_id: int | None
    closed_on: date | None
    verified_by: str | None
    closing_note: str | None
    created_by: str
    created_at: datetime
    evidence: list[EvidenceRead] = []
