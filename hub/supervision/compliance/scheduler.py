"""The compliance scheduler: reminders before a period closes, an alert
when it closed unmet, and a flag on meetings whose camera saw far fewer
people than checked in. Each is said once (compliance_alerts)."""

from __future__ import annotations

import asyncio
import logging
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hub.attendance.models import CheckIn
from hub.config import Settings
from hub.db import utcnow
from hub.events import AlertRaised, Event, EventBus
from hub.meetings.models import Meeting
from hub.members.models import Member
from hub.organisations.models import OrgUnit
from hub.supervision.compliance import service
from hub.supervision.compliance.models import ComplianceAlert
from hub.supervision.compliance.periods import Period, local_day, period_of, theme_day
from hub.supervision.compliance.rules import Rule, evaluate, headcount_flag, judged
from hub.supervision.config import SupervisionSettings
from hub.supervision.notifications import service as notify

log = logging.getLogger(__name__)


def deadline(rule: Rule, period: Period, sup: SupervisionSettings) -> date:
    if rule.fixed_day is not None:
        return theme_day(period.start.year, period.start.month, rule.fixed_day, sup.theme_day_moves)
    return period.end


def _once(session: Session, **fields: object) -> ComplianceAlert | None:
    """Insert the alert unless it was already raised."""
    q = select(ComplianceAlert.id).where(*(getattr(ComplianceAlert, k) == v for k, v in fields.items() if k != "message"))
    exists = session.scalar(q.limit(1))
    if exists:
        return None
    alert = ComplianceAlert(**fields)
    try:
        with session.begin_nested():
            session.add(alert)
    except IntegrityError:
        return None
    return alert


def run_checks(session: Session, settings: Settings, sup: SupervisionSettings, *, today: date | None = None) -> list[Event]:
    """One pass over the whole county; returns the events to publish."""
    today = today or local_day(utcnow(), sup.utc_offset_hours)
    events: list[Event] = []
    rules = service.periodic_rules(settings, sup)
    branches = list(session.scalars(select(OrgUnit).where(OrgUnit.kind == "branch")))
    if not rules or not branches:
        return events
    since = min(period_of(r.frequency, period_of(r.frequency, today).start - timedelta(days=1)).start for r in rules)
    history = service.held_meetings(session, settings, sup, path="/", since=since, until=today)
    committee: dict[int, list[Member]] = {}
    for m in session.scalars(select(Member).where(Member.active.is_(True), Member.committee.is_(True)).order_by(Member.id)):
        committee.setdefault(m.branch_id, []).append(m)
    for b in branches:
        held = history.get(b.id, [])
        set_up = service.set_up_on(b, sup)
        for r in rules:
            current = period_of(r.frequency, today)
            due_day = deadline(r, current, sup)
            outcome = evaluate(r, current, held, today, sup.theme_day_moves)
            if outcome.status == "due" and judged(outcome, set_up) and 0 <= (due_day - today).days <= sup.reminder_days:
                text = f"{b.name}：{r.name_zh}（{current.key}）尚未召开，请于{due_day:%m月%d日}前召开并全程录像。"
                if _once(session, kind="reminder", branch_id=b.id, subject=r.code, period_key=current.key, message=text):
                    for m in committee.get(b.id, []):
                        channels = ["app"] + (["sms"] if sup.sms.enabled and m.phone else [])
                        for ch in channels:
                            notify.enqueue(session, channel=ch, kind="reminder", title="会议提醒", text=text, member=m,
                                           dedupe=f"reminder:{b.id}:{r.code}:{current.key}:{m.id}:{ch}")
                    notify.to_secretaries(session, branch_id=b.id, kind="reminder", title="会议提醒", text=text,
                                          dedupe=f"reminder:{b.id}:{r.code}:{current.key}")
            previous = current if today > due_day else period_of(r.frequency, current.start - timedelta(days=1))
            closed = evaluate(r, previous, held, today, sup.theme_day_moves)
            if closed.status != "due" and not closed.met and judged(closed, set_up):
                text = f"{b.name}：{r.name_zh}（{previous.key}）未按要求召开：{_STATUS_ZH[closed.status]}"
                if _once(session, kind="unmet", branch_id=b.id, subject=r.code, period_key=previous.key, message=text):
                    events.append(AlertRaised(b.id, "compliance_unmet", text))
    events.extend(review_headcounts(session, sup, since=utcnow() - timedelta(days=3)))
    session.commit()
    return events


_STATUS_ZH = {"no_quorum": "到会人数不足", "not_recorded": "未直播或录像", "not_held": "未召开", "held_ok": "合格", "due": "待召开"}


def review_headcounts(session: Session, sup: SupervisionSettings, *, since: object) -> list[Event]:
    events: list[Event] = []
    meetings = list(session.scalars(select(Meeting).where(Meeting.status == "ended", Meeting.flagged.is_(False),
                                                           Meeting.max_headcount.is_not(None), Meeting.ended_at >= since)))
    for m in meetings:
        checkins = session.scalar(select(func.count()).select_from(CheckIn).where(CheckIn.meeting_id == m.id)) or 0
        reason = headcount_flag(checkins, m.max_headcount, sup.headcount_ratio, sup.headcount_min_checkins)
        if reason is None:
            continue
        m.flagged, m.flag_reason = True, reason[:300]
        text = (f"画面中最多 {m.max_headcount} 人，远少于签到的 {checkins} 人（不足 {sup.headcount_ratio:.0%}），"
                "请查看录像核实是否代签到")
        if _once(session, kind="headcount", branch_id=m.branch_id, subject=m.id, period_key="", message=text[:500]):
            events.append(AlertRaised(m.branch_id, "headcount_low", reason))
    return events


async def run_forever(session_factory: sessionmaker[Session], settings: Settings, sup: SupervisionSettings, bus: EventBus) -> None:
    def one_pass() -> list[Event]:
        with session_factory() as session:
            return run_checks(session, settings, sup)

    while True:
        try:
            for event in await asyncio.to_thread(one_pass):
                bus.publish(event)
        except Exception:
            log.exception("compliance check failed")
        await asyncio.sleep(sup.check_interval_seconds)
