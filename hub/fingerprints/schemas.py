from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

MAX_TEMPLATE_BYTES = 4096  # R307/R503/AS608 templates are 512 bytes; leave room for other families


class TemplateUpload(BaseModel):
    """An edge agent backs up one enrolled finger (PUT is an idempotent upsert by slot)."""

    model_config = ConfigDict(extra="forbid")
    member_id: int = Field(title="Member (hub id, from the roster)")
    slot: int = Field(ge=0, le=65535, title="Module library slot (page) holding the template")
    template_b64: str = Field(min_length=4, max_length=8192, title="The template as read with UpChar, base64")
    finger: str | None = Field(default=None, max_length=32, title="Which finger, free text (e.g. right_index)")


class TemplateStored(BaseModel):
    member_id: int
    slot: int
    finger: str | None
    template_size: int
    updated_at: datetime


class TemplateBackup(BaseModel):
    member_id: int
    slot: int
    finger: str | None
    template_b64: str
    updated_at: datetime


class BranchTemplates(BaseModel):
    """Everything a kiosk needs to rebuild its module library and slot map."""

    branch_id: int
    templates: list[TemplateBackup]


class EnrolledFinger(BaseModel):
    slot: int
    finger: str | None
    enrolled_at: datetime
    device_id: int | None


class EnrolledMember(BaseModel):
    member_id: int
    member_no: str
    name: str
    active: bool
    fingers: list[EnrolledFinger]


class EnrolmentDeleted(BaseModel):
    member_id: int
    slots: list[int]
