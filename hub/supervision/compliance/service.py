"""Compliance from the database: gather each branch's meetings, quorum and
recordings into HeldMeeting values and let the pure rules decide."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.attendance.models import CheckIn
from hub.config import Settings
from hub.errors import Invalid
from hub.meetings import quorum
from hub.meetings.models import Meeting
from hub.members.models import Member
from hub.organisations.models import OrgUnit
from hub.supervision.compliance.periods import local_day, local_midnight_utc, periods_between
from hub.supervision.compliance.recording import meetings_with_recording
from hub.supervision.compliance.rules import (
    HeldMeeting,
    Outcome,
    Rule,
    RuleConflict,
    effective_rules,
    evaluate,
    judged,
)
from hub.supervision.config import SupervisionSettings


@dataclass(frozen=True)
class Cell:
    branch_id: int
    outcome: Outcome


def rules(settings: Settings, sup: SupervisionSettings) -> list[Rule]:
    try:
        return effective_rules(settings.meeting_types, sup.rule_overrides)
    except RuleConflict as exc:
        raise Invalid(str(exc), code="rule_conflict") from None


def periodic_rules(settings: Settings, sup: SupervisionSettings, codes: list[str] | None = None) -> list[Rule]:
    chosen = [r for r in rules(settings, sup) if r.periodic and r.required]
    if codes:
        unknown = sorted(set(codes) - {r.code for r in chosen})
        if unknown:
            raise Invalid(f"No periodic compliance rule for {', '.join(unknown)}; "
                          f"use one of {', '.join(r.code for r in chosen)}.")
        chosen = [r for r in chosen if r.code in codes]
    return chosen


def roster_entries(session: Session, branch_ids: list[int]) -> dict[int, list[quorum.RosterEntry]]:
    out: dict[int, list[quorum.RosterEntry]] = defaultdict(list)
    stmt = select(Member.id, Member.branch_id, Member.status, Member.excused, Member.committee).where(Member.active.is_(True))
    wanted = set(branch_ids)
    for mid, bid, status, excused, committee in session.execute(stmt):
        if bid in wanted:
            out[bid].append(quorum.RosterEntry(mid, status, excused, committee))
    return out


def held_meetings(
    session: Session, settings: Settings, sup: SupervisionSettings, *, path: str, since: date, until: date,
) -> dict[int, list[HeldMeeting]]:
    """Every meeting started in [since, until] (county days) in the subtree,
    as the rules see it: day, minutes, quorum met, recorded."""
    start, stop = local_midnight_utc(since, sup.utc_offset_hours), local_midnight_utc(until + timedelta(days=1), sup.utc_offset_hours)
    rows = list(session.scalars(
        select(Meeting).join(OrgUnit, OrgUnit.id == Meeting.branch_id)
        .where(OrgUnit.path.startswith(path), Meeting.status.in_(("live", "ended")),
               Meeting.started_at >= start, Meeting.started_at < stop)
    ))
    ids = [m.id for m in rows]
    present: dict[str, set[int]] = defaultdict(set)
    for i in range(0, len(ids), 500):
        for mid, member_id in session.execute(select(CheckIn.meeting_id, CheckIn.member_id).where(CheckIn.meeting_id.in_(ids[i:i + 500]))):
            present[mid].add(member_id)
    recorded = meetings_with_recording(session, ids, sup.recording_tables)
    roster = roster_entries(session, list({m.branch_id for m in rows}))
    quorum_rule = {t.code: t.quorum for t in settings.meeting_types}
    out: dict[int, list[HeldMeeting]] = defaultdict(list)
    for m in rows:
        assert m.started_at is not None
        q = quorum.compute(quorum_rule.get(m.meeting_type, "none"), roster[m.branch_id], present[m.id])
        minutes = (m.ended_at - m.started_at).total_seconds() / 60 if m.ended_at else None
        out[m.branch_id].append(HeldMeeting(m.id, m.meeting_type, local_day(m.started_at, sup.utc_offset_hours),
                                            minutes, q.met, m.id in recorded))
    return out


def matrix(
    session: Session, settings: Settings, sup: SupervisionSettings, *, branches: list[OrgUnit], path: str,
    since: date, until: date, today: date, codes: list[str] | None = None,
) -> list[Cell]:
    """Outcome of every branch x rule x period overlapping [since, until]."""
    chosen = periodic_rules(settings, sup, codes)
    if not chosen or not branches:
        return []
    plans = {r.code: periods_between(r.frequency, since, until) for r in chosen}
    first = min(p[0].start for p in plans.values())
    last = max(p[-1].end for p in plans.values())
    history = held_meetings(session, settings, sup, path=path, since=first, until=last)
    cells: list[Cell] = []
    for b in branches:
        held = history.get(b.id, [])
        set_up = set_up_on(b, sup)
        for r in chosen:
            for p in plans[r.code]:
                outcome = evaluate(r, p, held, today, sup.theme_day_moves)
                if judged(outcome, set_up):
                    cells.append(Cell(b.id, outcome))
    return cells


def set_up_on(branch: OrgUnit, sup: SupervisionSettings) -> date | None:
    """The county day the branch was set up on the hub: no meeting is owed
    for a period that began before it."""
    return local_day(branch.created_at, sup.utc_offset_hours) if branch.created_at else None


def summarise(cells: list[Cell]) -> dict[str, dict[str, int]]:
    """Counts of each outcome per meeting type."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for c in cells:
        out[c.outcome.code][c.outcome.status] += 1
    return {k: dict(v) for k, v in out.items()}
