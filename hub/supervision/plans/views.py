"""Meeting plan routes (/api/v1/supervision/plans)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from hub.api.deps import Ctx, CurrentOperator, SessionDep
from hub.audit import service as audit
from hub.organisations.models import OrgUnit
from hub.organisations.service import get_branch_visible
from hub.supervision.common import scope_unit, today
from hub.supervision.config import settings_for
from hub.supervision.notifications import service as notify
from hub.supervision.plans import service
from hub.supervision.plans.models import MeetingPlan
from hub.supervision.plans.schemas import (
    PlanCreate,
    PlanItemRead,
    PlanRead,
    PlanReviewIn,
    PlanReviewRead,
    PlanRevise,
    PlanVsActual,
    PlanVsActualRow,
)

router = APIRouter(prefix="/api/v1/supervision/plans", tags=["supervision: plans"])


def read(session: SessionDep, plan: MeetingPlan, branch: OrgUnit, *, full: bool = True) -> PlanRead:
    out = PlanRead.model_validate(plan)
    out.branch_name = branch.name
    if full:
        out.items = [PlanItemRead.model_validate(i) for i in service.items_of(session, plan.id)]
        out.reviews = [PlanReviewRead.model_validate(r) for r in service.reviews_of(session, plan.id)]
    return out


@router.post("", response_model=PlanRead, status_code=201)
def file_plan(body: PlanCreate, session: SessionDep, op: CurrentOperator, ctx: Ctx) -> PlanRead:
    op.require_branch_act()
    branch = get_branch_visible(session, op, body.branch_id)
    plan = service.file_plan(session, ctx.settings, branch=branch, kind=body.kind, year=body.year, month=body.month,
                             items=body.items, by=op.display_name or op.username)
    audit.record(session, actor=op.username, action="plan_filed", target=f"plan:{plan.id}", branch_id=branch.id,
                 detail=body.model_dump(mode="json"))
    return read(session, plan, branch)


@router.get("", response_model=list[PlanRead])
def list_plans(session: SessionDep, op: CurrentOperator, unit_id: int | None = None, status: str | None = None,
               year: int | None = None, kind: str | None = None) -> list[PlanRead]:
    unit = scope_unit(session, op, unit_id)
    stmt = (select(MeetingPlan, OrgUnit).join(OrgUnit, OrgUnit.id == MeetingPlan.branch_id)
            .where(OrgUnit.path.startswith(unit.path)).order_by(MeetingPlan.year.desc(), MeetingPlan.month.desc(), OrgUnit.path))
    if status == "awaiting":  # the township's review queue: submitted or resubmitted
        stmt = stmt.where(MeetingPlan.status.in_(service.AWAITING_REVIEW))
    elif status:
        stmt = stmt.where(MeetingPlan.status == status)
    if year:
        stmt = stmt.where(MeetingPlan.year == year)
    if kind:
        stmt = stmt.where(MeetingPlan.kind == kind)
    return [read(session, p, b, full=False) for p, b in session.execute(stmt.limit(2000))]


@router.get("/{plan_id}", response_model=PlanRead)
def get_plan(plan_id: int, session: SessionDep, op: CurrentOperator) -> PlanRead:
    plan, branch = service.get_visible_plan(session, op, plan_id)
    return read(session, plan, branch)


@router.put("/{plan_id}/items", response_model=PlanRead)
def revise(plan_id: int, body: PlanRevise, session: SessionDep, op: CurrentOperator, ctx: Ctx) -> PlanRead:
    """Revise a plan not yet reviewed (it stays submitted) or a returned one
    (it is resubmitted as a new revision); see service.TRANSITIONS."""
    op.require_branch_act()
    plan, branch = service.get_visible_plan(session, op, plan_id)
    service.revise(session, ctx.settings, plan=plan, items=body.items, by=op.display_name or op.username)
    audit.record(session, actor=op.username, action="plan_revised", target=f"plan:{plan.id}", branch_id=branch.id,
                 detail={"revision": plan.revision, "items": len(body.items)})
    return read(session, plan, branch)


@router.post("/{plan_id}/review", response_model=PlanRead)
def review(plan_id: int, body: PlanReviewIn, session: SessionDep, op: CurrentOperator) -> PlanRead:
    op.require_write()
    plan, branch = service.get_visible_plan(session, op, plan_id)
    service.review(session, plan=plan, reviewer=op, decision=body.decision, reason=body.reason)
    audit.record(session, actor=op.username, action=f"plan_{plan.status}", target=f"plan:{plan.id}", branch_id=branch.id,
                 detail=body.model_dump())
    period = f"{plan.year}年{plan.month}月" if plan.month else f"{plan.year}年度"
    if plan.status == "returned":
        text = f"{period}会议计划（第{plan.revision}版）被退回：{plan.return_reason}。请修改后重新报送。"
    else:
        text = f"{period}会议计划（第{plan.revision}版）已通过预审。"
    notify.to_secretaries(session, branch_id=branch.id, kind=f"plan_{plan.status}", title="计划预审结果", text=text,
                          created_by=op.username)
    return read(session, plan, branch)


@router.get("/{plan_id}/vs-actual", response_model=PlanVsActual)
def vs_actual(plan_id: int, session: SessionDep, op: CurrentOperator, ctx: Ctx) -> PlanVsActual:
    plan, _ = service.get_visible_plan(session, op, plan_id)
    sup = settings_for(ctx)
    rows = service.plan_vs_actual(session, plan=plan, today=today(sup.utc_offset_hours), utc_offset_hours=sup.utc_offset_hours)
    return PlanVsActual(plan_id=plan.id, planned=sum(1 for r in rows if r["item_id"] is not None),
                        held=sum(1 for r in rows if r["status"] == "held"), rows=[PlanVsActualRow(**r) for r in rows])  # type: ignore[arg-type]
