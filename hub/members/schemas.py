from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MemberCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    member_no: str = Field(min_length=1, max_length=64)
    phone: str | None = None
    status: str = Field(default="full", pattern="^(full|probationary)$")
    excused: bool = False
    excused_reason: str | None = None
    committee: bool = False


class MemberUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    phone: str | None = None
    status: str | None = Field(default=None, pattern="^(full|probationary)$")
    excused: bool | None = None
    excused_reason: str | None = None
    committee: bool | None = None
    active: bool | None = None


class MemberRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    branch_id: int
    member_no: str
    name: str
    phone: str | None
    status: str
    excused: bool
    excused_reason: str | None
    committee: bool
    active: bool


class RosterImportResult(BaseModel):
    created: int
    updated: int
    errors: list[dict]
