from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from hub.api.deps import Ctx, CurrentOperator, SessionDep
from hub.attendance import service
from hub.attendance.models import LeaveRequest
from hub.audit import service as audit
from hub.db import utcnow
from hub.errors import Conflict, Invalid
from hub.events import CheckInRecorded, LeaveFiled
from hub.meetings.views import visible_meeting
from hub.members.service import get_member

router = APIRouter(prefix="/api/v1", tags=["attendance"])


class AttendanceRow(BaseModel):
    checkin_id: str
    member_id: int
    member_no: str
    name: str
    status: str
    checked_in_at: datetime
    method: str
    reason: str | None
    late: bool


class StaffCheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    member_id: int
    reason: str = Field(min_length=1, max_length=300)


class LeaveCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    member_id: int
    reason: str = Field(min_length=1, max_length=300)


class LeaveRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    meeting_id: str
    member_id: int
    reason: str
    approved: bool
    filed_by: str | None
    filed_at: datetime


@router.get("/meetings/{meeting_id}/attendance", response_model=list[AttendanceRow])
def list_attendance(meeting_id: str, session: SessionDep, op: CurrentOperator) -> list[AttendanceRow]:
    visible_meeting(session, op, meeting_id)
    return [
        AttendanceRow(checkin_id=c.id, member_id=m.id, member_no=m.member_no, name=m.name, status=m.status,
                      checked_in_at=c.checked_in_at, method=c.method, reason=c.reason, late=c.late)
        for c, m in service.attendance(session, meeting_id)
    ]


@router.post("/meetings/{meeting_id}/checkins", response_model=AttendanceRow, status_code=201)
def staff_checkin(meeting_id: str, body: StaffCheckIn, session: SessionDep, op: CurrentOperator, ctx: Ctx) -> AttendanceRow:
    """A check-in confirmed by staff by name (a finger that does not read), with the reason."""
    op.require_write()
    meeting = visible_meeting(session, op, meeting_id)
    try:
        res = service.record_checkin(
            session, branch_id=meeting.branch_id, meeting_id=meeting_id, member_id=body.member_id, method="staff",
            reason=body.reason, checked_in_at=utcnow(), grace_minutes=ctx.settings.late_grace_minutes, recorded_by=op.username)
    except service.CheckInRejected as exc:
        raise (Conflict if exc.code == "already_checked_in" else Invalid)(exc.detail, code=exc.code) from None
    audit.record(session, actor=op.username, action="checkin_staff", target=f"meeting:{meeting_id}", branch_id=meeting.branch_id,
                 detail={"member_id": body.member_id, "reason": body.reason})
    session.commit()
    c, m = res.checkin, res.member
    ctx.bus.publish_threadsafe(CheckInRecorded(meeting.branch_id, meeting_id, m.id, m.name, c.checked_in_at, c.method, c.late))
    return AttendanceRow(checkin_id=c.id, member_id=m.id, member_no=m.member_no, name=m.name, status=m.status,
                         checked_in_at=c.checked_in_at, method=c.method, reason=c.reason, late=c.late)


@router.get("/meetings/{meeting_id}/leave-requests", response_model=list[LeaveRead])
def list_leave(meeting_id: str, session: SessionDep, op: CurrentOperator) -> list:
    visible_meeting(session, op, meeting_id)
    return list(session.scalars(select(LeaveRequest).where(LeaveRequest.meeting_id == meeting_id)))


@router.post("/meetings/{meeting_id}/leave-requests", response_model=LeaveRead, status_code=201)
def file_leave(meeting_id: str, body: LeaveCreate, session: SessionDep, op: CurrentOperator, ctx: Ctx) -> object:
    op.require_branch_act()  # the branch's secretary records its members' leave too
    meeting = visible_meeting(session, op, meeting_id)
    leave = service.file_leave(session, meeting=meeting, member=get_member(session, body.member_id), reason=body.reason, filed_by=op.username)
    audit.record(session, actor=op.username, action="leave_filed", target=f"meeting:{meeting_id}", branch_id=meeting.branch_id, detail=body.model_dump())
    session.commit()
    ctx.bus.publish_threadsafe(LeaveFiled(meeting.branch_id, meeting.id, leave.member_id))
    return leave
