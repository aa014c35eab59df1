from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from fastapi import APIRouter
from sqlalchemy import func, select

from hub.api.deps import Ctx, CurrentOperator, SessionDep
from hub.attendance.models import CheckIn
from hub.audit import service as audit
from hub.events import MeetingEnded, MeetingScheduled, MeetingStarted
from hub.meetings import service
from hub.meetings.models import Meeting
from hub.meetings.schemas import (
    MeetingCancel,
    MeetingDetail,
    MeetingEdit,
    MeetingRead,
    MeetingSchedule,
    MeetingTypeRead,
    QuorumRead,
)
from hub.members.models import Member
from hub.organisations.models import OrgUnit
from hub.organisations.service import get_branch_visible, get_visible

router = APIRouter(prefix="/api/v1", tags=["meetings"])


def visible_meeting(session: SessionDep, op: CurrentOperator, meeting_id: str) -> Meeting:
    meeting = service.get(session, meeting_id)
    get_visible(session, op, meeting.branch_id)
    return meeting


def detail(session: SessionDep, ctx: Ctx, meeting: Meeting) -> MeetingDetail:
    q = service.quorum_for(session, ctx.settings, meeting)
    checked = session.scalar(select(func.count()).select_from(CheckIn).where(CheckIn.meeting_id == meeting.id)) or 0
    roster = session.scalar(select(func.count()).select_from(Member).where(Member.branch_id == meeting.branch_id, Member.active.is_(True))) or 0
    return MeetingDetail(**MeetingRead.model_validate(meeting).model_dump(), quorum=QuorumRead(**asdict(q)), checked_in=checked, roster=roster)


@router.get("/meeting-types", response_model=list[MeetingTypeRead])
def meeting_types(ctx: Ctx, op: CurrentOperator) -> list:
    return [t.model_dump() for t in ctx.settings.meeting_types]


@router.get("/meetings", response_model=list[MeetingRead])
def list_meetings(
    session: SessionDep, op: CurrentOperator, branch_id: int | None = None, status: str | None = None,
    since: datetime | None = None, until: datetime | None = None, limit: int = 200,
) -> list:
    """Meetings in the operator's area, newest first."""
    stmt = (select(Meeting).join(OrgUnit, OrgUnit.id == Meeting.branch_id)
            .where(OrgUnit.path.startswith(op.scope_path)).order_by(Meeting.created_at.desc()).limit(min(limit, 1000)))
    if branch_id is not None:
        stmt = stmt.where(Meeting.branch_id == branch_id)
    if status:
        stmt = stmt.where(Meeting.status == status)
    if since:
        stmt = stmt.where(func.coalesce(Meeting.started_at, Meeting.scheduled_start) >= since)
    if until:
        stmt = stmt.where(func.coalesce(Meeting.started_at, Meeting.scheduled_start) < until)
    return list(session.scalars(stmt))


@router.post("/branches/{branch_id}/meetings", response_model=MeetingRead, status_code=201)
def schedule_meeting(branch_id: int, body: MeetingSchedule, session: SessionDep, op: CurrentOperator, ctx: Ctx) -> object:
    op.require_write()
    get_branch_visible(session, op, branch_id)
    meeting = service.schedule(session, ctx.settings, branch_id=branch_id, **body.model_dump())
    audit.record(session, actor=op.username, action="meeting_scheduled", target=f"meeting:{meeting.id}", branch_id=branch_id)
    session.commit()
    ctx.bus.publish_threadsafe(MeetingScheduled(branch_id, meeting.id))  # the hall's kiosk shows it
    return meeting


@router.get("/meetings/{meeting_id}", response_model=MeetingDetail)
def get_meeting(meeting_id: str, session: SessionDep, op: CurrentOperator, ctx: Ctx) -> MeetingDetail:
    return detail(session, ctx, visible_meeting(session, op, meeting_id))


@router.post("/meetings/{meeting_id}/start", response_model=MeetingDetail)
def start_meeting(meeting_id: str, session: SessionDep, op: CurrentOperator, ctx: Ctx) -> MeetingDetail:
    op.require_write()
    meeting = visible_meeting(session, op, meeting_id)
    service.start(session, ctx.settings, branch_id=meeting.branch_id, meeting_id=meeting.id, meeting_type=meeting.meeting_type, topic=meeting.topic)
    audit.record(session, actor=op.username, action="meeting_started", target=f"meeting:{meeting.id}", branch_id=meeting.branch_id)
    session.commit()
    assert meeting.started_at is not None
    ctx.bus.publish_threadsafe(MeetingStarted(meeting.branch_id, meeting.id, meeting.meeting_type, meeting.topic, meeting.started_at))
    return detail(session, ctx, meeting)


@router.post("/meetings/{meeting_id}/end", response_model=MeetingDetail)
def end_meeting(meeting_id: str, session: SessionDep, op: CurrentOperator, ctx: Ctx) -> MeetingDetail:
    op.require_write()
    meeting = visible_meeting(session, op, meeting_id)
    service.end(session, meeting)
    audit.record(session, actor=op.username, action="meeting_ended", target=f"meeting:{meeting.id}", branch_id=meeting.branch_id)
    session.commit()
    assert meeting.ended_at is not None
    ctx.bus.publish_threadsafe(MeetingEnded(meeting.branch_id, meeting.id, meeting.ended_at))
    return detail(session, ctx, meeting)


@router.patch("/meetings/{meeting_id}", response_model=MeetingRead)
def edit_meeting(meeting_id: str, body: MeetingEdit, session: SessionDep, op: CurrentOperator, ctx: Ctx) -> object:
    """Change a scheduled meeting (type, topic, times); the hall's kiosk and the wall follow."""
    op.require_write()
    meeting = visible_meeting(session, op, meeting_id)
    changes = body.model_dump(exclude_unset=True)
    service.edit(session, ctx.settings, meeting, **changes)
    audit.record(session, actor=op.username, action="meeting_edited", target=f"meeting:{meeting.id}",
                 branch_id=meeting.branch_id, detail=body.model_dump(mode="json", exclude_unset=True))
    session.commit()
    ctx.bus.publish_threadsafe(MeetingScheduled(meeting.branch_id, meeting.id))
    return meeting


@router.post("/meetings/{meeting_id}/cancel", response_model=MeetingRead)
def cancel_meeting(meeting_id: str, body: MeetingCancel, session: SessionDep, op: CurrentOperator, ctx: Ctx) -> object:
    op.require_write()
    meeting = visible_meeting(session, op, meeting_id)
    service.cancel(session, meeting)
    audit.record(session, actor=op.username, action="meeting_cancelled", target=f"meeting:{meeting.id}",
                 branch_id=meeting.branch_id, detail={"reason": body.reason})
    session.commit()
    ctx.bus.publish_threadsafe(MeetingScheduled(meeting.branch_id, meeting.id))
    return meeting
