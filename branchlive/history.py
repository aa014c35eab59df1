"""A year of synthetic supervision history for the demo county.

`seed_history` fills a county that already has its tree and rosters (see
branchlive/seed.py) with past meetings and check-ins (and recording index
rows where the media table exists), meeting plans and their reviews, score
inspections, rectification items (some closed late, some still overdue),
published notices, quarterly phone spot checks, notifications and the
compliance scheduler's alerts, so that every supervision page shows
something on first start. Deterministic for a given seed."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from hub.attendance.models import CheckIn
from hub.config import Settings
from hub.meetings.models import Meeting
from hub.members.models import Member
from hub.organisations.models import OrgUnit
from hub.supervision.compliance import scheduler
from hub.supervision.compliance.periods import local_day, local_midnight_utc, period_of, theme_day
from hub.supervision.config import SupervisionSettings
from hub.supervision.notices import service as notices
from hub.supervision.notifications import service as notify
from hub.supervision.plans.models import MeetingPlan, PlanItem, PlanReview
from hub.supervision.rectification.models import RectificationItem
from hub.supervision.scoresheets import service as scores
from hub.supervision.scoresheets.models import Inspection, InspectionScore
from hub.supervision.spotchecks import service as spot
from hub.supervision.spotchecks.models import SpotCheck, SpotCheckCall

TOPICS = {
    "theme_day": ["学习贯彻党的二十大精神", "重温入党誓词", "开展环境整治志愿服务", "学习党章党规", "参观红色教育基地"],
    "committee": ["研究发展党员工作", "讨论村级集体经济项目", "研究困难群众帮扶名单", "部署防汛防火工作", "研究党费收缴"],
    "group_meeting": ["学习政策文件", "交流思想工作情况", "讨论联系群众事项"],
    "general_meeting": ["讨论接收预备党员", "通报村务财务收支", "审议年度工作计划", "推选优秀党员"],
    "party_lecture": ["书记讲党课：乡村振兴中的党员责任", "党史专题党课", "廉洁教育党课"],
    "life_meeting": ["年度组织生活会：对照检查、批评与自我批评"],
    "appraisal": ["年度民主评议党员"],
}
FORMS = ["集中学习", "专题讨论", "参观见学", "志愿服务", "视频学习"]
PROBLEMS = [
    ("三会一课记录本填写不规范", "按规范补记并由书记审核签字"), ("主题党日未按固定日期开展", "下月起严格按5日开展并提前报备"),
    ("直播设备长时间离线", "联系运维更换路由器，每周自检"), ("党员活动室标识牌缺失", "制作并悬挂标识标牌"),
    ("党费收缴台账不完整", "补齐台账，按月公示"), ("会议签到与画面人数不符", "核查签到情况，书记作出说明"),
    ("发展党员材料缺少公示记录", "补充公示材料并归档"), ("党务公开栏内容陈旧", "更新公开内容，每季度至少一次"),
]
REASONS = ["台账资料不全", "记录不规范", "未按时开展", "现场检查发现问题", "材料缺失"]
SCHEDULE = {"theme_day": "monthly", "committee": "monthly", "group_meeting": "monthly", "general_meeting": "quarterly",
            "party_lecture": "quarterly", "life_meeting": "yearly", "appraisal": "yearly"}


def _when(day: date, hour: int, minute: int, offset: float) -> datetime:
    return local_midnight_utc(day, offset) + timedelta(hours=hour, minutes=minute)


def _segment_table(session: Session) -> str | None:
    insp = inspect(session.connection())
    return "media_segments" if insp.has_table("media_segments") else None


def _meetings(session: Session, rng: random.Random, branches: list[OrgUnit], roster: dict[int, list[Member]], sup: SupervisionSettings,
              first: date, today: date) -> dict[str, int]:
    """Past meetings, check-ins and recording rows, written in bulk."""
    now = datetime.now(UTC)
    seg_table = _segment_table(session)
    meetings: list[dict[str, Any]] = []
    checkins: list[dict[str, Any]] = []
    segments: list[dict[str, Any]] = []
    for b in branches:
        diligence = rng.uniform(0.6, 0.98)
        turnout = rng.uniform(0.55, 0.95)
        records = rng.uniform(0.7, 0.99)
        members = roster.get(b.id, [])
        month = date(first.year, first.month, 1)
        while month <= today:
            for code, freq in SCHEDULE.items():
                if freq == "quarterly" and month.month % 3 != b.id % 3:
                    continue  # one month in each quarter, varying by branch
                if freq == "yearly" and month.month != 12 - (b.id % 2):
                    continue
                if rng.random() > diligence:
                    continue
                if code == "theme_day":
                    day = theme_day(month.year, month.month, 5, sup.theme_day_moves)
                    if rng.random() < 0.08:
                        day += timedelta(days=1)  # a branch that slips a day
                else:
                    day = month + timedelta(days=rng.randint(6, 26))
                start = _when(day, rng.choice((8, 9, 14, 15, 19)), rng.choice((0, 15, 30)), sup.utc_offset_hours)
                minutes = rng.choice((25, 45, 60, 75, 90, 120)) if code != "theme_day" else rng.choice((60, 90, 120))
                end = start + timedelta(minutes=minutes)
                if end >= now or day < first:
                    continue
                mid = str(uuid.uuid4())
                present = [m for m in members if rng.random() < (turnout if not m.excused else 0.05)]
                if code == "committee":
                    present = [m for m in members if m.committee and rng.random() < 0.9]
                heads = max(0, len(present) - rng.randint(0, 3))
                proxy = len(present) >= 6 and rng.random() < 0.02
                if proxy:
                    heads = rng.randint(0, 2)
                meetings.append({"id": mid, "branch_id": b.id, "meeting_type": code, "topic": rng.choice(TOPICS[code]),
                                 "status": "ended", "scheduled_start": start, "scheduled_end": end, "started_at": start, "ended_at": end,
                                 "flagged": proxy, "flag_reason": "camera headcount far below check-ins; review the recording" if proxy else None,
                                 "max_headcount": heads, "created_at": start})
                for m in present:
                    at = start + timedelta(minutes=rng.randint(-20, 12))
                    checkins.append({"id": str(uuid.uuid4()), "meeting_id": mid, "member_id": m.id, "branch_id": b.id, "checked_in_at": at,
                                     "method": "fingerprint" if rng.random() < 0.93 else "staff", "reason": None, "late": at > start + timedelta(minutes=10),
                                     "received_at": at, "recorded_by": None})
                if seg_table and rng.random() < records:
                    segments.append({"id": str(uuid.uuid4()), "m": mid, "b": b.id, "t": start, "d": float(minutes * 60),
                                     "p": f"history/{mid}/0.mp4"})
            month = (month + timedelta(days=32)).replace(day=1)
    for rows, model in ((meetings, Meeting), (checkins, CheckIn)):
        for i in range(0, len(rows), 5000):
            session.execute(insert(model), rows[i:i + 5000])
    if seg_table and segments:
        # Index rows only (no media files): compliance sees these meetings as recorded.
        stmt = text(f"INSERT INTO {seg_table} (id, meeting_id, branch_id, started_at, duration, path, size, init_size, container, "
                    "video_codec, source, created_at) VALUES (:id, :m, :b, :t, :d, :p, 0, 0, 'mp4', 'h264', 'history', :t)")
        for i in range(0, len(segments), 5000):
            session.execute(stmt, segments[i:i + 5000])
    session.flush()
    return {"meetings": len(meetings), "checkins": len(checkins), "recordings": len(segments)}


def _plans(session: Session, rng: random.Random, branches: list[OrgUnit], today: date) -> int:
    n = 0
    for b in branches:
        for kind, year, month in (("annual", today.year, 0), ("monthly", today.year, today.month),
                                  ("monthly", (today.replace(day=1) - timedelta(days=1)).year, (today.replace(day=1) - timedelta(days=1)).month)):
            if kind == "monthly" and rng.random() < 0.15:
                continue
            status = rng.choices(("approved", "submitted", "returned"), (0.7, 0.2, 0.1))[0]
            plan = MeetingPlan(branch_id=b.id, kind=kind, year=year, month=month, status=status, revision=1 if status != "approved" or rng.random() < 0.8 else 2,
                               return_reason="主题不具体、形式不明确，请细化" if status == "returned" else None, submitted_by="支部书记")
            if status != "submitted":
                plan.reviewed_by, plan.reviewed_at = "乡镇审核员", datetime.now(UTC) - timedelta(days=rng.randint(1, 20))
            session.add(plan)
            session.flush()
            months = range(1, 13) if kind == "annual" else [month]
            for mo in months:
                codes = ["theme_day", "committee"] + (["general_meeting", "party_lecture"] if mo % 3 == 2 else [])
                for code in codes:
                    day = date(year, mo, 5) if code == "theme_day" else date(year, mo, rng.randint(8, 25))
                    session.add(PlanItem(plan_id=plan.id, meeting_type=code, planned_date=day, topic=rng.choice(TOPICS[code]), form=rng.choice(FORMS)))
            if status != "submitted":
                session.add(PlanReview(plan_id=plan.id, revision=plan.revision, decision=status, reason=plan.return_reason or "",
                                       reviewer="乡镇审核员"))
            n += 1
    session.flush()
    return n


def _ledger(session: Session, rng: random.Random, branches: list[OrgUnit], first: date, today: date, offset: float) -> dict[str, int]:
    """Inspections in two rounds, deductions, rectification items."""
    template = scores.ensure_default_template(session)
    sheet = scores.load_sheet(session, template.id)
    items = [i for _, its in sheet.categories for i in its]
    counts: defaultdict[str, int] = defaultdict(int)

    def rectification(branch: OrgUnit, opened: date, problem: str, measures: str, source: str, deduction_id: int | None = None) -> None:
        deadline = opened + timedelta(days=rng.choice((15, 30, 30, 45)))
        r = rng.random()
        closed = None
        if deadline < today or r < 0.5:
            if r < 0.72:
                closed = min(today, opened + timedelta(days=rng.randint(3, (deadline - opened).days)))
            elif r < 0.85:
                closed = min(today, deadline + timedelta(days=rng.randint(1, 20)))  # closed late
        session.add(RectificationItem(branch_id=branch.id, source=source, problem=problem, measures=measures, deadline=deadline,
                                      responsible=f"{rng.choice('王李张刘陈杨')}书记", status="closed" if closed else "open",
                                      closed_on=closed, verified_by="县委组织部督查组" if closed else None, deduction_id=deduction_id,
                                      created_by="history", created_at=_when(opened, 10, 0, offset)))
        counts["rectifications"] += 1

    rounds = [d for d in (today - timedelta(days=150), today - timedelta(days=60)) if d >= first]
    for when in rounds:
        for b in branches:
            if rng.random() > 0.7:
                continue
            day = when + timedelta(days=rng.randint(0, 14))
            chosen = rng.sample(items, k=rng.randint(0, 4))
            deductions = [(it, round(rng.choice((0.5, 1, 1, 2, 3)) if it.max_points >= 3 else 0.5, 1)) for it in chosen]
            total = round(sheet.max_total - sum(d for _, d in deductions), 2)
            insp = Inspection(template_id=template.id, branch_id=b.id, group_name=rng.choice(("第一督查组", "第二督查组", "第三督查组")),
                              inspected_on=day, total=total, max_total=sheet.max_total, created_by="history",
                              created_at=_when(day, 16, 0, offset))
            session.add(insp)
            session.flush()
            counts["inspections"] += 1
            for it, d in deductions:
                row = InspectionScore(inspection_id=insp.id, item_id=it.id, deduction=d, reason=rng.choice(REASONS))
                session.add(row)
                session.flush()
                if rng.random() < 0.5:
                    rectification(b, day, f"{it.name}：{row.reason}（扣{d:g}分）", "对照评分细则逐项整改", "score_deduction", row.id)
    for b in branches:
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            opened = first + timedelta(days=rng.randint(0, max(1, (today - first).days - 5)))
            problem, measures = rng.choice(PROBLEMS)
            rectification(b, opened, problem, measures, rng.choice(("video_inspection", "video_inspection", "visit")))
    session.flush()
    return dict(counts)


def _notices(session: Session, root: OrgUnit, first: date, today: date) -> int:
    n = 0
    q = period_of("quarterly", first)
    while q.end < today:
        try:
            notice = notices.draft(session, scope=root, period_start=q.start, period_end=q.end, today=q.closes_on + timedelta(days=10),
                                   created_by="history")
        except Exception:  # nothing overdue that quarter
            q = period_of("quarterly", q.closes_on)
            continue
        notice.status, notice.published_by = "published", "县委组织部"
        notice.published_at = datetime.combine(q.closes_on + timedelta(days=12), datetime.min.time(), tzinfo=UTC)
        n += 1
        q = period_of("quarterly", q.closes_on)
    session.flush()
    return n


def _spot_checks(session: Session, rng: random.Random, root: OrgUnit, first: date, today: date) -> int:
    n = 0
    q = period_of("quarterly", first)
    while q.start <= today:
        try:
            check = spot.draw(session, scope=root, kind="members", ledger_id=None, sample_size=30, label=f"{q.key} 电话抽查",
                              by="history", seed=rng.getrandbits(48))
        except Exception:
            break
        check.created_at = datetime.combine(min(today, q.start + timedelta(days=20)), datetime.min.time(), tzinfo=UTC)
        done = q.end < today
        for call in session.scalars(select(SpotCheckCall).where(SpotCheckCall.spot_check_id == check.id)):
            if done or rng.random() < 0.4:
                call.outcome = rng.choices(("confirmed", "unreachable", "denied", "wrong_number"), (0.85, 0.09, 0.03, 0.03))[0]
                call.note = {"denied": "称未接到走访", "wrong_number": "号码已停机"}.get(call.outcome, "")
                call.called_by, call.called_at = "督查组", check.created_at + timedelta(days=rng.randint(1, 10))
        n += 1
        q = period_of("quarterly", q.closes_on)
    session.flush()
    return n


def _notifications(session: Session, today: date, offset: float) -> int:
    n = 0
    since = local_midnight_utc(today - timedelta(days=7), offset)
    for m in session.scalars(select(Meeting).where(Meeting.started_at >= since).order_by(Meeting.started_at).limit(40)):
        for member in session.scalars(select(Member).where(Member.branch_id == m.branch_id, Member.active.is_(True)).limit(30)):
            row = notify.enqueue(session, channel="app", kind="meeting_notice", title="会议通知", member=member, meeting_id=m.id,
                                 text=f"定于{local_day(m.started_at, offset):%m月%d日}召开会议：{m.topic}，请准时参加。",  # type: ignore[arg-type]
                                 dedupe=f"meeting_notice:{m.id}:{member.id}:app")
            n += row is not None
    session.flush()
    return n


def seed_history(session_factory: sessionmaker[Session], settings: Settings, *, days: int = 365, seed: int = 1) -> dict[str, int]:
    """Fill the seeded county with `days` of history ending today. Does
    nothing (returns {"skipped": 1}) if meetings are already there."""
    rng = random.Random(seed)
    sup = getattr(settings, "supervision", None) or SupervisionSettings()
    today = local_day(datetime.now(UTC), sup.utc_offset_hours)
    first = today - timedelta(days=days)
    with session_factory() as session:
        if session.scalar(select(func.count()).select_from(SpotCheck)) or session.scalar(
                select(func.count()).select_from(Meeting).where(Meeting.started_at < local_midnight_utc(today - timedelta(days=2), sup.utc_offset_hours))):
            return {"skipped": 1}
        branches = list(session.scalars(select(OrgUnit).where(OrgUnit.kind == "branch").order_by(OrgUnit.id)))
        root = session.scalar(select(OrgUnit).where(OrgUnit.parent_id.is_(None)))
        if not branches or root is None:
            return {"skipped": 1}
        # The history says the county was on the hub all year: compliance
        # judges a branch only from the day it was set up.
        since = local_midnight_utc(period_of("yearly", first).start, sup.utc_offset_hours)
        for unit in session.scalars(select(OrgUnit).where(OrgUnit.created_at > since)):
            unit.created_at = since
        roster: dict[int, list[Member]] = defaultdict(list)
        for m in session.scalars(select(Member).where(Member.active.is_(True))):
            roster[m.branch_id].append(m)
        out: dict[str, int] = {}
        out.update(_meetings(session, rng, branches, roster, sup, first, today))
        out["plans"] = _plans(session, rng, branches, today)
        out.update(_ledger(session, rng, branches, first, today, sup.utc_offset_hours))
        out["notices"] = _notices(session, root, first, today)
        out["spot_checks"] = _spot_checks(session, rng, root, first, today)
        out["notifications"] = _notifications(session, today, sup.utc_offset_hours)
        session.commit()
        events = scheduler.run_checks(session, settings, sup, today=today)
        out["alerts"] = len(events)
        session.commit()
    return out
