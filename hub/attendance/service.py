"""Recording check-ins: one per member per meeting, with a reason the kiosk
can show whenever one is refused."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.attendance.models import METHODS, CheckIn, LeaveRequest
from hub.errors import Conflict, Invalid
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


def record_checkin(
    session: Session, *, branch_id: int, meeting_id: str, member_id: int, method: str,
    checked_in_at: datetime, grace_minutes: int, reason: str | None = None,
    device_id: int | None = None, recorded_by: str | None = None, checkin_id: str | None = None,
) -> CheckInResult:
    if method not in METHODS:
        raise CheckInRejected("bad_message", f"method must be one of {', '.join(METHODS)}")
    if method == "staff" and not (reason or "").strip():
        raise CheckInRejected("reason_required", "工作人员确认签到须填写原因 A staff-confirmed check-in needs a reason.")
    meeting = session.get(Meeting, meeting_id)
    if meeting is None:
        raise CheckInRejected("unknown_meeting", "会议不存在 This meeting is not known to the county; open the meeting again.")
    if meeting.branch_id != branch_id:
        raise CheckInRejected("not_in_branch", "该会议属于其他支部 This meeting belongs to another branch.")
    if meeting.status != "live":
        raise CheckInRejected("meeting_not_open", "会议未开始或已结束 The meeting is not open; ask the secretary to open it.")
    member = session.get(Member, member_id)
    if member is None or not member.active:
        raise CheckInRejected("unknown_member", "不在党员名册中 Not on the roster; please see the branch secretary.")
    if member.branch_id != branch_id:
        raise CheckInRejected("not_in_branch", "非本支部党员 Not a member of this branch.")
    existing = session.scalar(select(CheckIn).where(CheckIn.meeting_id == meeting_id, CheckIn.member_id == member_id))
    if existing is not None:
        raise CheckInRejected("already_checked_in", f"{member.name} 已签到 already checked in at {existing.checked_in_at:%H:%M}.")
    checkin = CheckIn(
        id=checkin_id or str(uuid.uuid4()), meeting_id=meeting_id, member_id=member_id, branch_id=branch_id,
        checked_in_at=checked_in_at, method=method, reason=reason, device_id=device_id, recorded_by=recorded_by,
        late=is_late(meeting, checked_in_at, grace_minutes),
    )
    session.add(checkin)
    return CheckInResult(checkin, member, meeting)


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
