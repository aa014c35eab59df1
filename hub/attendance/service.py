"""Recording check-ins: one per member per meeting, with a reason the kiosk
can show whenever one is refused."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from hub.attendance.models import METHODS, CheckIn, LeaveRequest
from hub.attendance.summary import AttendanceSummary, summarise
from hub.config import Settings
from hub.db import utcnow
from hub.errors import Conflict, Invalid
from hub.meetings import quorum
from hub.meetings.models import Meeting
from hub.members.models import Member


class CheckInRejected(Exception):
    """A check-in the hub will not store; `code` is on the wire (edge-ws.md)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


@dataclass(frozen=True)
class CheckInResult:
    checkin: CheckIn
    member: Member
    meeting: Meeting


def is_late(meeting: Meeting, at: datetime, grace_minutes: int) -> bool:
    start = meeting.scheduled_start or meeting.started_at
    return start is not None and at > start + timedelta(minutes=grace_minutes)


@dataclass(frozen=True)
class CheckInRequest:
    branch_id: int
    meeting_id: str
    member_id: int
    method: str
    checked_in_at: datetime
    reason: str | None = None
    device_id: int | None = None
    recorded_by: str | None = None
    checkin_id: str | None = None


def record_checkins(
    session: Session, requests: list[CheckInRequest], *, grace_minutes: int
) -> list[CheckInResult | CheckInRejected]:
    """Validate and add many check-ins with one query per table, in order:
    a later request for a member already checked in (in the database or
    earlier in the same list) is refused as already_checked_in. This is
    the hub's hot path when hundreds of halls check members in at once."""
    meetings = {m.id: m for m in session.scalars(select(Meeting).where(Meeting.id.in_({r.meeting_id for r in requests})))}
    # A device that joined the branch's open meeting may still send under its own id.
    merged = {m.id: m.merged_into for m in meetings.values() if m.merged_into}
    if merged:
        requests = [replace(r, meeting_id=merged.get(r.meeting_id, r.meeting_id)) for r in requests]
        targets = set(merged.values()) - set(meetings)
        meetings.update({m.id: m for m in session.scalars(select(Meeting).where(Meeting.id.in_(targets)))})
    meeting_ids = {r.meeting_id for r in requests}
    member_ids = {r.member_id for r in requests}
    members = {m.id: m for m in session.scalars(select(Member).where(Member.id.in_(member_ids)))}
    taken: dict[tuple[str, int], datetime] = {
        (c.meeting_id, c.member_id): c.checked_in_at
        for c in session.execute(
            select(CheckIn.meeting_id, CheckIn.member_id, CheckIn.checked_in_at)
            .where(CheckIn.meeting_id.in_(meeting_ids), CheckIn.member_id.in_(member_ids)))
    }
    out: list[CheckInResult | CheckInRejected] = []
    rows: list[dict[str, object]] = []
    for r in requests:
        try:
            meeting, member = _validate(r, meetings.get(r.meeting_id), members.get(r.member_id))
            if (r.meeting_id, r.member_id) in taken:
                at = taken[(r.meeting_id, r.member_id)]
                raise CheckInRejected("already_checked_in", f"{member.name} 已签到 already checked in at {at:%H:%M}.")
        except CheckInRejected as exc:
            out.append(exc)
            continue
        row = dict(
            id=r.checkin_id or str(uuid.uuid4()), meeting_id=r.meeting_id, member_id=r.member_id, branch_id=r.branch_id,
            checked_in_at=r.checked_in_at, method=r.method, reason=r.reason, device_id=r.device_id,
            recorded_by=r.recorded_by, late=is_late(meeting, r.checked_in_at, grace_minutes), received_at=utcnow(),
        )
        rows.append(row)
        taken[(r.meeting_id, r.member_id)] = r.checked_in_at
        out.append(CheckInResult(CheckIn(**row), member, meeting))
    if rows:
        # One executemany instead of a unit-of-work flush: this is the hot path.
        session.execute(insert(CheckIn), rows)
    return out


def _validate(r: CheckInRequest, meeting: Meeting | None, member: Member | None) -> tuple[Meeting, Member]:
    if r.method not in METHODS:
        raise CheckInRejected("bad_message", f"method must be one of {', '.join(METHODS)}")
    if r.method == "staff" and not (r.reason or "").strip():
        raise CheckInRejected("reason_required", "工作人员确认签到须填写原因 A staff-confirmed check-in needs a reason.")
    if meeting is None:
        raise CheckInRejected("unknown_meeting", "会议不存在 This meeting is not known to the county; open the meeting again.")
    if meeting.branch_id != r.branch_id:
        raise CheckInRejected("not_in_branch", "该会议属于其他支部 This meeting belongs to another branch.")
    if meeting.status != "live":
        raise CheckInRejected("meeting_not_open", "会议未开始或已结束 The meeting is not open; ask the secretary to open it.")
    if member is None or not member.active:
        raise CheckInRejected("unknown_member", "不在党员名册中 Not on the roster; please see the branch secretary.")
    if member.branch_id != r.branch_id:
        raise CheckInRejected("not_in_branch", "非本支部党员 Not a member of this branch.")
    return meeting, member


def record_checkin(session: Session, *, grace_minutes: int, **fields: object) -> CheckInResult:
    """One check-in; raises CheckInRejected with the reason."""
    (result,) = record_checkins(session, [CheckInRequest(**fields)], grace_minutes=grace_minutes)  # type: ignore[arg-type]
    if isinstance(result, CheckInRejected):
        raise result
    session.flush()
    return result


def attendance(session: Session, meeting_id: str) -> list[tuple[CheckIn, Member]]:
    rows = session.execute(
        select(CheckIn, Member).join(Member, Member.id == CheckIn.member_id)
        .where(CheckIn.meeting_id == meeting_id).order_by(CheckIn.checked_in_at)
    )
    return [(c, m) for c, m in rows]


def file_leave(session: Session, *, meeting: Meeting, member: Member, reason: str, filed_by: str) -> LeaveRequest:
    if member.branch_id != meeting.branch_id:
        raise Invalid("The member is not in this meeting's branch.")
    if not reason.strip():
        raise Invalid("A leave request needs a reason (请假事由).")
    if session.scalar(select(LeaveRequest).where(LeaveRequest.meeting_id == meeting.id, LeaveRequest.member_id == member.id)):
        raise Conflict(f"{member.name} already has a leave request for this meeting.")
    leave = LeaveRequest(meeting_id=meeting.id, member_id=member.id, reason=reason, filed_by=filed_by)
    session.add(leave)
    session.flush()
    return leave


def summary_for(session: Session, settings: Settings, meeting: Meeting) -> AttendanceSummary:
    """实到 / 应到 / 请假 / quorum of a meeting, from the database (the edge
    gateway's source; the wall computes the same from memory)."""
    mtype = settings.meeting_type(meeting.meeting_type)
    members = session.scalars(select(Member).where(Member.branch_id == meeting.branch_id, Member.active.is_(True)))
    roster = [quorum.RosterEntry(m.id, m.status, m.excused, m.committee) for m in members]
    present = session.scalars(select(CheckIn.member_id).where(CheckIn.meeting_id == meeting.id))
    leave = session.scalars(select(LeaveRequest.member_id).where(LeaveRequest.meeting_id == meeting.id))
    return summarise(meeting.id, mtype.quorum if mtype else "none", roster, present, leave)
