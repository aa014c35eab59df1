from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class OrgUnitCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(pattern="^(county|township|branch|other)$")
    parent_id: int = Field(ge=1, le=2**31 - 1)
    code: str | None = Field(default=None, min_length=1, max_length=64)


class OrgUnitUpdate(BaseModel):
    """Rename, move (a new parent) or (de)activate; only the fields sent change."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    parent_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    active: bool | None = None


class OrgUnitRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    parent_id: int | None
    name: str
    kind: str
    code: str | None
    path: str
    active: bool = True
