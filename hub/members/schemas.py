from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Bounds are the columns' (hub/members/models.py).
Name = Field(min_length=1, max_length=100)
Phone = Field(default=None, max_length=32)
Reason = Field(default=None, max_length=200)


class MemberCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Name
    member_no: str = Field(min_length=1, max_length=64)
    phone: str | None = Phone
    status: str = Field(default="full", pattern="^(full|probationary)$")
    excused: bool = False
    excused_reason: str | None = Reason
    committee: bool = False
    committee_role: str | None = Field(default=None, max_length=40)


class MemberUpdate(BaseModel):
    """Only the fields sent change; `null` is allowed only where a member
    may have no value (phone, excused reason)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=100)
    phone: str | None = Phone
    status: str | None = Field(default=None, pattern="^(full|probationary)$")
    excused: bool | None = None
    excused_reason: str | None = Reason
    committee: bool | None = None
    committee_role: str | None = Field(default=None, max_length=40)
    active: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_null_for_required(cls, data: Any) -> Any:
        if isinstance(data, dict):
            nulls = [k for k in ("name", "status", "excused", "committee", "active") if k in data and data[k] is None]
            if nulls:
                raise ValueError(f"{', '.join(nulls)}: cannot be null; leave the field out to keep its value")
        return data


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
    committee_role: str | None = None
    active: bool


class RosterRow(BaseModel):
    """A row of an earlier import, corrected in the page: its row number in
    the file, and its cells by field (the same text a spreadsheet holds)."""

    model_config = ConfigDict(extra="forbid")
    row: int = Field(ge=1, le=10_000_000)
    values: dict[str, str] = Field(max_length=16)

    @model_validator(mode="after")
    def _bounded(self) -> RosterRow:
        if any(len(k) > 40 or len(v) > 4096 for k, v in self.values.items()):
            raise ValueError("values: a field name or a cell is too long")
        return self


class RosterRows(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rows: list[RosterRow] = Field(min_length=1, max_length=5000)


class RosterImportResult(BaseModel):
    created: int
    updated: int
    errors: list[dict]
