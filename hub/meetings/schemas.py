from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class MeetingSchedule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    meeting_type: str
    topic: str = Field(default="", max_length=300)
    scheduled_start: datetime
    scheduled_end: datetime | None = None


class MeetingEdit(BaseModel):
    """Change a scheduled meeting; only the fields sent change."""

    model_config = ConfigDict(extra="forbid")
    meeting_type: str | None = Field(default=None, min_length=1, max_length=40)
    topic: str | None = Field(default=None, max_length=300)
    scheduled_start: datetime | None = None
    scheduled_end: datetime | None = None


class MeetingCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=300)


class QuorumRead(BaseModel):
    rule: str
    expected: int
    present: int
    required: int
    met: bool


class MeetingRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    branch_id: int
    meeting_type: str
    topic: str
    status: str
    scheduled_start: datetime | None
    scheduled_end: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    flagged: bool
    max_headcount: int | None


class MeetingDetail(MeetingRead):
    quorum: QuorumRead
    checked_in: int
    roster: int


class MeetingTypeRead(BaseModel):
    code: str
    name_zh: str
    name_en: str
    frequency: str
    quorum: str
