"""Filing, revising and reviewing meeting plans; plan against actual."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.auth.principal import OperatorPrincipal
from hub.config import Settings
from hub.db import utcnow
from hub.errors import Conflict, Forbidden, Invalid, NotFound
from hub.meetings.models import Meeting
from hub.organisations.models import OrgUnit
from hub.organisations.service import get_visible
from hub.supervision.compliance.periods import local_day, local_midnight_utc, period_of
from hub.supervision.plans.models import MeetingPlan, PlanItem, PlanReview
from hub.supervision.plans.schemas import PlanItemIn

MIN_TOPIC = 4  # "学习" or "开会" is too vague to review

# The plan's state machine: (state, action) -> next state. `revise` before a
# review keeps the state; after a return it is the resubmission (a new
# revision). An approved plan is final: changes go into a new plan.
TRANSITIONS: dict[tuple[str, str], str] = {
    ("submitted", "revise"): "submitted",
    ("submitted", "approve"): "approved",
    ("submitted", "return"): "returned",
    ("returned", "revise"): "resubmitted",
    ("resubmitted", "revise"): "resubmitted",
    ("resubmitted", "approve"): "approved",
    ("resubmitted", "return"): "returned",
}
AWAITING_REVIEW = ("submitted", "resubmitted")


def next_status(status: str, action: str) -> str:
    """The state after `action`, or Conflict saying what can be done instead."""
    after = TRANSITIONS.get((status, action))
    if after is not None:
        return after
    if status == "approved":
        raise Conflict("The plan is approved; file changes as a new monthly plan or ask the township to return it.",
                       code="plan_approved")
    raise Conflict(f"The plan is {status}; it cannot be {action}d now. Wait for the township's review.",
                   code="plan_not_awaiting_review" if action in ("approve", "return") else "plan_state")


def _check_items(settings: Settings, kind: str, year: int, month: int, items: Sequence[PlanItemIn]) -> None:
    problems: list[str] = []
    found: list[dict[str, object]] = []  # the same, by code, for the dashboard's own words
    for n, it in enumerate(items, 1):
        if settings.meeting_type(it.meeting_type) is None:
            problems.append(f"item {n}: unknown meeting type {it.meeting_type!r}")
            found.append({"item": n, "problem": "unknown_type"})
        if it.planned_date.year != year or (kind == "monthly" and it.planned_date.month != month):
            where = f"{year}-{month:02d}" if kind == "monthly" else str(year)
            problems.append(f"item {n}: {it.planned_date} is outside the plan's period {where}")
            found.append({"item": n, "problem": "outside_period"})
        if len(it.topic.strip()) < MIN_TOPIC:
            problems.append(f"item {n}: the topic {it.topic.strip()!r} is too vague; say what will be studied or decided")
            found.append({"item": n, "problem": "topic_vague"})
        if not it.form.strip():
            problems.append(f"item {n}: give the form (集中学习, 专题讨论, 参观见学 ...)")
            found.append({"item": n, "problem": "form_missing"})
    if problems:
        raise Invalid("The plan cannot be filed: " + "; ".join(problems) + ".", code="plan_items_invalid",
                      problems=found)


def _replace_items(session: Session, plan: MeetingPlan, items: Sequence[PlanItemIn]) -> None:
    for old in session.scalars(select(PlanItem).where(PlanItem.plan_id == plan.id)):
        session.delete(old)
    for it in sorted(items, key=lambda i: i.planned_date):
        session.add(PlanItem(plan_id=plan.id, meeting_type=it.meeting_type, planned_date=it.planned_date,
                             topic=it.topic.strip(), form=it.form.strip()))
    session.flush()


def file_plan(session: Session, settings: Settings, *, branch: OrgUnit, kind: str, year: int, month: int | None,
              items: Sequence[PlanItemIn], by: str) -> MeetingPlan:
    if branch.kind != "branch":
        raise Invalid(f"{branch.name} is not a branch; plans are filed by branches.")
    if kind == "monthly" and month is None:
        raise Invalid("A monthly plan needs its month (1-12).")
    if kind == "annual" and month is not None:
        raise Invalid("An annual plan has no month; leave month out.")
    m = month or 0
    _check_items(settings, kind, year, m, items)
    if session.scalar(select(MeetingPlan.id).where(MeetingPlan.branch_id == branch.id, MeetingPlan.kind == kind,
                                                   MeetingPlan.year == year, MeetingPlan.month == m)):
        raise Conflict(f"{branch.name} already filed this {kind} plan; revise that one instead.", code="plan_exists")
    plan = MeetingPlan(branch_id=branch.id, kind=kind, year=year, month=m, status="submitted", revision=1, submitted_by=by)
    session.add(plan)
    session.flush()
    _replace_items(session, plan, items)
    return plan


def revise(session: Session, settings: Settings, *, plan: MeetingPlan, items: Sequence[PlanItemIn], by: str) -> MeetingPlan:
    after = next_status(plan.status, "revise")
    _check_items(settings, plan.kind, plan.year, plan.month, items)
    _replace_items(session, plan, items)
    if plan.status == "returned":
        plan.revision += 1
    plan.status, plan.submitted_by, plan.submitted_at = after, by, utcnow()
    return plan


def review(session: Session, *, plan: MeetingPlan, reviewer: OperatorPrincipal, decision: str, reason: str) -> MeetingPlan:
    if reviewer.scope_id == plan.branch_id or not reviewer.can_write:
        raise Forbidden("A branch cannot review its own plan; the township reviews it.", code="plan_own_review")
    after = next_status(plan.status, decision)
    if decision == "return" and not reason.strip():
        raise Invalid("Say why the plan goes back (e.g. 主题不具体、形式不明确), so the branch knows what to revise.",
                      code="plan_return_reason_required")
    plan.status = after
    plan.return_reason = reason.strip() if decision == "return" else None
    plan.reviewed_by, plan.reviewed_at = reviewer.display_name or reviewer.username, utcnow()
    session.add(PlanReview(plan_id=plan.id, revision=plan.revision, decision=plan.status, reason=reason.strip(),
                           reviewer=plan.reviewed_by))
    return plan


def get_visible_plan(session: Session, op: OperatorPrincipal, plan_id: int) -> tuple[MeetingPlan, OrgUnit]:
    plan = session.get(MeetingPlan, plan_id)
    if plan is None:
        raise NotFound(f"Plan {plan_id} does not exist or is outside your area.")
    try:
        return plan, get_visible(session, op, plan.branch_id)
    except NotFound:
        raise NotFound(f"Plan {plan_id} does not exist or is outside your area.") from None


def items_of(session: Session, plan_id: int) -> list[PlanItem]:
    return list(session.scalars(select(PlanItem).where(PlanItem.plan_id == plan_id).order_by(PlanItem.planned_date, PlanItem.id)))


def reviews_of(session: Session, plan_id: int) -> list[PlanReview]:
    return list(session.scalars(select(PlanReview).where(PlanReview.plan_id == plan_id).order_by(PlanReview.id)))


def plan_vs_actual(session: Session, *, plan: MeetingPlan, today: date, utc_offset_hours: float) -> list[dict[str, object]]:
    """Match each planned item to a meeting of its type held in the same
    month (the first one not already matched); list meetings nobody planned."""
    period = period_of("yearly" if plan.kind == "annual" else "monthly", date(plan.year, plan.month or 1, 1))
    start, stop = local_midnight_utc(period.start, utc_offset_hours), local_midnight_utc(period.closes_on, utc_offset_hours)
    meetings = list(session.scalars(select(Meeting).where(
        Meeting.branch_id == plan.branch_id, Meeting.status.in_(("live", "ended")),
        Meeting.started_at >= start, Meeting.started_at < stop).order_by(Meeting.started_at)))
    days = {m.id: local_day(m.started_at, utc_offset_hours) for m in meetings if m.started_at}
    used: set[str] = set()
    rows: list[dict[str, object]] = []
    for it in items_of(session, plan.id):
        match = next((m for m in meetings if m.id not in used and m.meeting_type == it.meeting_type
                      and (days[m.id].year, days[m.id].month) == (it.planned_date.year, it.planned_date.month)), None)
        if match is not None:
            used.add(match.id)
            status = "held"
        else:
            status = "not_held" if period_of("monthly", it.planned_date).is_closed(today) else "upcoming"
        rows.append({"item_id": it.id, "meeting_type": it.meeting_type, "planned_date": it.planned_date, "topic": it.topic,
                     "status": status, "meeting_id": match.id if match else None, "held_on": days.get(match.id) if match else None})
    for m in meetings:
        if m.id not in used:
            rows.append({"item_id": None, "meeting_type": m.meeting_type, "planned_date": None, "topic": m.topic,
                         "status": "unplanned", "meeting_id": m.id, "held_on": days[m.id]})
    return rows
