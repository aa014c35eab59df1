"""Compliance routes: the rules in force, the outcome matrix, alerts."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from hub.api.deps import Ctx, CurrentOperator, SessionDep
from hub.meetings.models import Meeting
from hub.organisations.models import OrgUnit
from hub.supervision.common import Tree, check_range, scope_unit, today
from hub.supervision.compliance import service
from hub.supervision.compliance.models import ComplianceAlert
from hub.supervision.compliance.periods import local_day
from hub.supervision.config import settings_for

router = APIRouter(prefix="/api/v1/supervision", tags=["supervision: compliance"])


class RuleRead(BaseModel):
    code: str
    name_zh: str
    frequency: str
    quorum: str
    min_minutes: int
    fixed_day: int | None
    required: bool


class RulesRead(BaseModel):
    rules: list[RuleRead]
    theme_day_moves: dict[date, date]
    utc_offset_hours: float


class NoteRead(BaseModel):
    code: str  # the dashboard's text is "sv.note_<code>" filled with params
    params: dict[str, str]


class CellRead(BaseModel):
    branch_id: int
    branch_name: str
    township: str
    code: str
    period: str
    period_start: date
    period_end: date
    status: str
    meeting_id: str | None
    meeting_label: str = ""
    note: str
    notes: list[NoteRead] = []


class ComplianceRead(BaseModel):
    since: date
    until: date
    today: date
    cells: list[CellRead]
    summary: dict[str, dict[str, int]]


class AlertRead(BaseModel):
    model_config = {"from_attributes": True}
    id: int
    kind: str
    branch_id: int
    subject: str
    period_key: str
    message: str
    created_at: object


@router.get("/rules", response_model=RulesRead)
def get_rules(ctx: Ctx, op: CurrentOperator) -> RulesRead:
    sup = settings_for(ctx)
    rules = service.rules(ctx.settings, sup)
    return RulesRead(rules=[RuleRead(**r.__dict__) for r in rules], theme_day_moves=sup.theme_day_moves,
                     utc_offset_hours=sup.utc_offset_hours)


@router.get("/compliance", response_model=ComplianceRead)
def get_compliance(
    session: SessionDep, ctx: Ctx, op: CurrentOperator, since: date, until: date,
    unit_id: int | None = None, types: Annotated[list[str] | None, Query()] = None,
) -> ComplianceRead:
    """Outcome per branch, meeting type and period overlapping [since, until]."""
    check_range(since, until)
    sup = settings_for(ctx)
    unit = scope_unit(session, op, unit_id)
    tree = Tree.load(session, unit.path)
    branches = tree.branches(unit.path)
    now = today(sup.utc_offset_hours)
    cells = service.matrix(session, ctx.settings, sup, branches=branches, path=unit.path, since=since, until=until,
                           today=now, codes=types)
    labels = meeting_labels(session, {c.outcome.meeting_id for c in cells if c.outcome.meeting_id}, sup.utc_offset_hours)
    out = []
    for c in cells:
        b = tree.units[c.branch_id]
        t = tree.township(b)
        o = c.outcome
        out.append(CellRead(branch_id=b.id, branch_name=b.name, township=t.name if t else "", code=o.code,
                            period=o.period.key, period_start=o.period.start, period_end=o.period.end,
                            status=o.status, meeting_id=o.meeting_id, meeting_label=labels.get(o.meeting_id or "", ""),
                            note=o.note, notes=[NoteRead(code=n.code, params=dict(n.params)) for n in o.notes]))
    return ComplianceRead(since=since, until=until, today=now, cells=out, summary=service.summarise(cells))


def meeting_labels(session: SessionDep, ids: set[str], utc_offset_hours: float) -> dict[str, str]:
    """A meeting as people name it: its local day and topic ("2026-09-05 学习党章"), not its id."""
    out: dict[str, str] = {}
    for chunk in (sorted(ids)[i:i + 500] for i in range(0, len(ids), 500)):
        for mid, topic, started, scheduled in session.execute(
                select(Meeting.id, Meeting.topic, Meeting.started_at, Meeting.scheduled_start).where(Meeting.id.in_(chunk))):
            when = started or scheduled
            day = local_day(when, utc_offset_hours).isoformat() if when else ""
            out[mid] = " ".join(x for x in (day, topic) if x)
    return out


@router.get("/compliance/alerts", response_model=list[AlertRead])
def list_alerts(session: SessionDep, op: CurrentOperator, unit_id: int | None = None, limit: int = 200) -> list:
    unit = scope_unit(session, op, unit_id)
    stmt = (select(ComplianceAlert).join(OrgUnit, OrgUnit.id == ComplianceAlert.branch_id)
            .where(OrgUnit.path.startswith(unit.path)).order_by(ComplianceAlert.id.desc()).limit(min(limit, 1000)))
    return list(session.scalars(stmt))
