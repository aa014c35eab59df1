from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=300)
    max_points: float = Field(gt=0, le=100)
    guidance: str = ""


class CategoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    max_points: float = Field(gt=0, le=1000)
    items: list[ItemIn] = Field(min_length=1)


class TemplateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    categories: list[CategoryIn] = Field(min_length=1)


class ItemRead(BaseModel):
    id: int
    name: str
    max_points: float
    guidance: str


class CategoryRead(BaseModel):
    id: int
    name: str
    max_points: float
    items: list[ItemRead]


class TemplateRead(BaseModel):
    id: int
    name: str
    description: str
    active: bool
    max_total: float
    categories: list[CategoryRead]


class RectificationFromDeduction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    measures: str = Field(min_length=2, max_length=2000)
    deadline: date
    responsible: str = Field(min_length=1, max_length=100)


class ScoreIn(BaseModel):
    """Either the points awarded (`score`) or the points taken off
    (`deduction`) for one item; items not listed get full marks."""

    model_config = ConfigDict(extra="forbid")
    item_id: int
    score: float | None = None
    deduction: float | None = None
    reason: str = Field(default="", max_length=2000)
    rectification: RectificationFromDeduction | None = None


class InspectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    template_id: int
    branch_id: int
    group_name: str = Field(min_length=1, max_length=100)
    inspected_on: date
    note: str = Field(default="", max_length=5000)
    scores: list[ScoreIn] = []


class DeductionRead(BaseModel):
    item_id: int
    item_name: str
    category: str
    max_points: float
    deduction: float
    reason: str
    rectification_id: int | None


class CategoryScore(BaseModel):
    name: str
    max_points: float
    deducted: float
    score: float


class InspectionRead(BaseModel):
    id: int
    template_id: int
    branch_id: int
    branch_name: str
    township: str
    group_name: str
    inspected_on: date
    total: float
    max_total: float
    note: str
    created_by: str
    created_at: datetime
    categories: list[CategoryScore]
    deductions: list[DeductionRead]


class RankingRow(BaseModel):
    branch_id: int
    branch_name: str
    township_id: int | None
    township: str
    inspection_id: int
    inspected_on: date
    total: float
    county_rank: int
    township_rank: int
