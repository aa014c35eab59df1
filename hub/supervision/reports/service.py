"""Supervision reports for any period and subtree: meetings by type,
attendance, live-streamed meetings, inspections, rectifications, notices,
compliance, by township and by month."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.attendance.models import CheckIn
from hub.config import Settings
from hub.meetings.models import Meeting
from hub.meetings.quorum import RosterEntry, expected_members
from hub.organisations.models import OrgUnit
from hub.supervision.common import Tree
from hub.supervision.compliance import service as compliance
from hub.supervision.compliance.periods import local_day, local_midnight_utc
from hub.supervision.compliance.recording import meetings_with_recording
from hub.supervision.config import SupervisionSettings
from hub.supervision.notices.models import Notice
from hub.supervision.rectification.models import RectificationItem
from hub.supervision.scoresheets.models import Inspection
from hub.supervision.spotchecks.models import SpotCheck, SpotCheckCall


def attendance(rule: str, roster: list[RosterEntry], present_ids: set[int]) -> tuple[int, int]:
    """实到 and 应到 of one meeting: who was expected depends on its type.
    A committee meeting (quorum rule half_committee) expects the committee,
    not the whole roster; every meeting leaves out the members excused with
    approval unless they came (`quorum.expected_members`, the base the wall and the
    hall use). Members who were not expected (a non-committee member sitting
    in) do not raise the rate."""
    expected = {r.member_id for r in expected_members(rule, roster, present_ids)}
    return len(expected & present_ids), len(expected)


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def build(session: Session, settings: Settings, sup: SupervisionSettings, *, unit: OrgUnit, since: date, until: date,
          today: date) -> dict[str, Any]:
    tree = Tree.load(session, unit.path)
    branches = tree.branches(unit.path)
    branch_ids = {b.id for b in branches}

    def town_name(branch_id: int) -> str:
        t = tree.township(tree.units[branch_id])
        return t.name if t else unit.name

    start, stop = local_midnight_utc(since, sup.utc_offset_hours), local_midnight_utc(until + timedelta(days=1), sup.utc_offset_hours)
    meetings = [m for m in session.scalars(select(Meeting).where(Meeting.status.in_(("live", "ended")), Meeting.started_at >= start,
                                                                 Meeting.started_at < stop)) if m.branch_id in branch_ids]
    ids = [m.id for m in meetings]
    present: dict[str, set[int]] = defaultdict(set)
    for i in range(0, len(ids), 500):
        for mid, member_id in session.execute(select(CheckIn.meeting_id, CheckIn.member_id).where(CheckIn.meeting_id.in_(ids[i:i + 500]))):
            present[mid].add(member_id)
    roster = compliance.roster_entries(session, list({m.branch_id for m in meetings}))
    quorum_rule = {t.code: t.quorum for t in settings.meeting_types}
    recorded = meetings_with_recording(session, ids, sup.recording_tables)
    names = {t.code: t.name_zh for t in settings.meeting_types}

    by_type: dict[str, dict[str, Any]] = {}
    by_town: dict[str, dict[str, Any]] = {}
    by_month: dict[str, dict[str, Any]] = {}

    def bucket(store: dict[str, dict[str, Any]], key: str, **init: Any) -> dict[str, Any]:
        if key not in store:
            store[key] = {"meetings": 0, "recorded": 0, "present": 0, "expected": 0, "flagged": 0, **init}
        return store[key]

    for b in branches:
        bucket(by_town, town_name(b.id), branches=0)["branches"] += 1
    for m in meetings:
        assert m.started_at is not None
        month = local_day(m.started_at, sup.utc_offset_hours).strftime("%Y-%m")
        came, exp = attendance(quorum_rule.get(m.meeting_type, "none"), roster[m.branch_id], present[m.id])
        for row in (bucket(by_type, m.meeting_type, name_zh=names.get(m.meeting_type, m.meeting_type)),
                    bucket(by_town, town_name(m.branch_id), branches=0), bucket(by_month, month)):
            row["meetings"] += 1
            row["recorded"] += m.id in recorded
            row["present"] += came
            row["expected"] += exp
            row["flagged"] += bool(m.flagged)
    for store in (by_type, by_town, by_month):
        for row in store.values():
            row["attendance_rate"] = _rate(row["present"], row["expected"])

    inspections = [i for i in session.scalars(select(Inspection).where(Inspection.inspected_on >= since, Inspection.inspected_on <= until))
                   if i.branch_id in branch_ids]
    items = [i for i in session.scalars(select(RectificationItem)) if i.branch_id in branch_ids]
    opened = [i for i in items if since <= local_day(i.created_at, sup.utc_offset_hours) <= until]
    closed = [i for i in items if i.closed_on and since <= i.closed_on <= until]
    overdue = [i for i in items if i.status == "open" and i.deadline < today]
    for inspection in inspections:
        bucket(by_town, town_name(inspection.branch_id), branches=0).setdefault("inspections", 0)
        by_town[town_name(inspection.branch_id)]["inspections"] += 1
    for label, rows in (("rect_opened", opened), ("rect_closed", closed), ("rect_overdue", overdue)):
        for item in rows:
            row = bucket(by_town, town_name(item.branch_id), branches=0)
            row[label] = row.get(label, 0) + 1
    notices = [n for n in session.scalars(select(Notice).where(Notice.status == "published"))
               if n.published_at and since <= local_day(n.published_at, sup.utc_offset_hours) <= until
               and (tree.units.get(n.scope_id) is not None)]
    checks = [c for c in session.scalars(select(SpotCheck)) if c.scope_id in tree.units
              and tree.units[c.scope_id].path.startswith(unit.path) and since <= local_day(c.created_at, sup.utc_offset_hours) <= until]
    calls = list(session.scalars(select(SpotCheckCall).where(SpotCheckCall.spot_check_id.in_([c.id for c in checks])))) if checks else []
    cells = compliance.matrix(session, settings, sup, branches=branches, path=unit.path, since=since, until=until, today=today)
    comp: dict[str, int] = defaultdict(int)
    for c in cells:
        comp[c.outcome.status] += 1
    total_present = sum(r["present"] for r in by_type.values())
    total_expected = sum(r["expected"] for r in by_type.values())
    return {
        "unit": {"id": unit.id, "name": unit.name}, "since": since, "until": until,
        "totals": {
            "branches": len(branches), "meetings": len(meetings), "live_streamed": sum(1 for m in meetings if m.id in recorded),
            "attendance_rate": _rate(total_present, total_expected), "flagged_meetings": sum(1 for m in meetings if m.flagged),
            "inspections": len(inspections),
            "average_score": round(sum(i.total for i in inspections) / len(inspections), 2) if inspections else None,
            "video_inspection_items": sum(1 for i in opened if i.source == "video_inspection"),
            "rectifications_opened": len(opened), "rectifications_closed": len(closed), "rectifications_overdue": len(overdue),
            "notices": len(notices), "spot_checks": len(checks), "spot_check_calls": len(calls),
            "spot_check_confirmed": sum(1 for c in calls if c.outcome == "confirmed"),
            "compliance_met": comp.get("held_ok", 0), "compliance_cells": sum(comp.values()),
        },
        "compliance": dict(comp),
        "by_type": [{"code": k, **v} for k, v in sorted(by_type.items())],
        "by_township": [{"township": k, **v} for k, v in sorted(by_town.items())],
        "by_month": [{"month": k, **v} for k, v in sorted(by_month.items())],
    }


TOTAL_LABELS = [
    ("branches", "党组织数"), ("meetings", "召开会议次数"), ("live_streamed", "直播（录像）会议次数"), ("attendance_rate", "参会率"),
    ("flagged_meetings", "疑似形式化会议"), ("inspections", "督查评分次数"), ("average_score", "平均得分"),
    ("video_inspection_items", "视频巡查发现问题"), ("rectifications_opened", "新增整改事项"), ("rectifications_closed", "完成销号"),
    ("rectifications_overdue", "逾期未整改"), ("notices", "通报次数"), ("spot_checks", "电话抽查批次"),
    ("spot_check_calls", "抽查人次"), ("spot_check_confirmed", "核实属实"), ("compliance_met", "合规项"), ("compliance_cells", "应检查项"),
]


def sheets(report: dict[str, Any]) -> list[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]]:
    t = report["totals"]
    return [
        ("概况", ("指标", "数值"), [("统计范围", report["unit"]["name"]), ("开始日期", report["since"]), ("结束日期", report["until"])]
         + [(label, t[key]) for key, label in TOTAL_LABELS]),
        ("按会议类型", ("会议类型", "召开次数", "直播录像", "实到人次", "应到人次", "参会率"),
         [(r["name_zh"], r["meetings"], r["recorded"], r["present"], r["expected"], r["attendance_rate"]) for r in report["by_type"]]),
        ("按乡镇", ("乡镇（街道）", "党组织数", "召开会议", "直播录像", "参会率", "督查评分", "新增整改", "完成销号", "逾期未整改"),
         [(r["township"], r.get("branches", 0), r["meetings"], r["recorded"], r["attendance_rate"], r.get("inspections", 0),
           r.get("rect_opened", 0), r.get("rect_closed", 0), r.get("rect_overdue", 0)) for r in report["by_township"]]),
        ("按月", ("月份", "召开会议", "直播录像", "参会率"),
         [(r["month"], r["meetings"], r["recorded"], r["attendance_rate"]) for r in report["by_month"]]),
    ]
