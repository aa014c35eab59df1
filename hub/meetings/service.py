from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.attendance.models import CheckIn
from hub.config import Settings
from hub.db import utcnow
from hub.errors import Conflict, Invalid, NotFound
from hub.meetings import quorum
from hub.meetings.models import Meeting
from hub.members.models import Member

# A meeting still "live" this long after its start was left open (an agent
# that lost its disk, say): a new start ends it instead of joining it.
ABANDONED_AFTER = timedelta(hours=12)


def check_type(settings: Settings, meeting_type: str) -> None:
    if settings.meeting_type(meeting_type) is None:
        codes = ", ".join(t.code for t in settings.meeting_types)
        raise Invalid(f"Unknown meeting type {meeting_type!r}; use one of: {codes}.", code="bad_message")


def schedule(
    session: Session, settings: Settings, *, branch_id: int, meeting_type: str, topic: str,
    scheduled_start: datetime, scheduled_end: datetime | None = None,
) -> Meeting:
    check_type(settings, meeting_type)
    if scheduled_end and scheduled_end <= scheduled_start:
        raise Invalid("The meeting must end after it starts.", code="meeting_end_before_start")
    meeting = Meeting(id=str(uuid.uuid4()), branch_id=branch_id, meeting_type=meeting_type, topic=topic,
                      status="scheduled", scheduled_start=scheduled_start, scheduled_end=scheduled_end)
    session.add(meeting)
    session.flush()
    return meeting


def edit(session: Session, settings: Settings, meeting: Meeting, **changes: object) -> Meeting:
    """Change a meeting that has not started yet (type, topic, times)."""
    if meeting.status != "scheduled":
        raise Conflict(f"The meeting is {meeting.status}; only a scheduled meeting can be changed.",
                       code="meeting_not_scheduled")
    if changes.get("meeting_type") is not None:
        check_type(settings, str(changes["meeting_type"]))
    for key, value in changes.items():
        if value is not None or key == "scheduled_end":
            setattr(meeting, key, value)
    if meeting.scheduled_end and meeting.scheduled_start and meeting.scheduled_end <= meeting.scheduled_start:
        raise Invalid("The meeting must end after it starts.", code="meeting_end_before_start")
    session.flush()
    return meeting


def cancel(session: Session, meeting: Meeting) -> Meeting:
    if meeting.status != "scheduled":
        raise Conflict(f"The meeting is {meeting.status}; only a scheduled meeting can be cancelled.",
                       code="meeting_not_scheduled")
    meeting.status = "cancelled"
    session.flush()
    return meeting


def live_meeting(session: Session, branch_id: int) -> Meeting | None:
    return session.scalar(select(Meeting).where(Meeting.branch_id == branch_id, Meeting.status == "live"))


def start(
    session: Session, settings: Settings, *, branch_id: int, meeting_id: str | None, meeting_type: str,
    topic: str, started_at: datetime | None = None, device_id: int | None = None, join_open: bool = False,
) -> Meeting:
    """Start a meeting (a scheduled one, or a new one with the edge's id).

    A branch has one open meeting, shared by all its devices. With
    `join_open` (a hall device), a start while another meeting is live
    joins it: the new id is kept as `merged` into the live one and the live
    meeting is returned. Without it (an operator), the start is refused."""
    check_type(settings, meeting_type)
    started_at = started_at or utcnow()
    meeting = session.get(Meeting, meeting_id) if meeting_id else None
    if meeting is not None and meeting.branch_id != branch_id:
        raise Conflict("That meeting id belongs to another branch.", code="not_in_branch")
    if meeting is not None and meeting.status == "merged":
        return resolve(session, meeting)
    current = live_meeting(session, branch_id)
    if current is not None and current is not meeting and current.started_at is not None \
            and current.started_at < started_at - ABANDONED_AFTER:
        current.status, current.ended_at = "ended", started_at  # left open and forgotten: not joined
        current = None
    if current is not None and current is not meeting:
        if not join_open:
            raise Conflict("这个支部已有会议在进行 The branch already has a meeting open; end it first.",
                           code="meeting_already_open")
        if meeting is None:
            meeting = Meeting(id=meeting_id or str(uuid.uuid4()), branch_id=branch_id,
                              meeting_type=meeting_type, topic=topic)
            session.add(meeting)
        if meeting.status == "scheduled":
            return current  # the scheduled one stays scheduled; the device joins what is open
        meeting.status, meeting.merged_into = "merged", current.id
        meeting.started_at, meeting.started_by_device_id = started_at, device_id
        session.flush()
        return current
    if meeting is None:
        meeting = Meeting(id=meeting_id or str(uuid.uuid4()), branch_id=branch_id, meeting_type=meeting_type, topic=topic)
        session.add(meeting)
    if meeting.status in ("ended", "cancelled"):
        raise Conflict("This meeting has already ended; open a new one.", code="meeting_not_open")
    meeting.status, meeting.started_at = "live", started_at
    meeting.meeting_type, meeting.topic = meeting_type, topic or meeting.topic
    meeting.started_by_device_id = device_id
    session.flush()
    return meeting


def resolve(session: Session, meeting: Meeting) -> Meeting:
    """The meeting a merged id stands for (itself otherwise)."""
    seen = 0
    while meeting.merged_into and seen < 5:
        target = session.get(Meeting, meeting.merged_into)
        if target is None:
            break
        meeting, seen = target, seen + 1
    return meeting


def upcoming(session: Session, branch_id: int, *, limit: int = 5) -> list[Meeting]:
    """Scheduled meetings of a branch from 12 hours ago on, soonest first."""
    since = utcnow() - timedelta(hours=12)
    return list(session.scalars(
        select(Meeting).where(Meeting.branch_id == branch_id, Meeting.status == "scheduled",
                              Meeting.scheduled_start > since).order_by(Meeting.scheduled_start).limit(limit)))


def end(session: Session, meeting: Meeting, ended_at: datetime | None = None) -> Meeting:
    if meeting.status != "live":
        raise Conflict(f"The meeting is {meeting.status}, not live.", code="meeting_not_open")
    meeting.status, meeting.ended_at = "ended", ended_at or utcnow()
    return meeting


def get(session: Session, meeting_id: str) -> Meeting:
    meeting = session.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFound(f"Meeting {meeting_id} does not exist.", code="unknown_meeting")
    return meeting


def quorum_for(session: Session, settings: Settings, meeting: Meeting) -> quorum.Quorum:
    mtype = settings.meeting_type(meeting.meeting_type)
    rule = mtype.quorum if mtype else "none"
    members = session.scalars(select(Member).where(Member.branch_id == meeting.branch_id, Member.active.is_(True)))
    roster = [quorum.RosterEntry(m.id, m.status, m.excused, m.committee) for m in members]
    present = set(session.scalars(select(CheckIn.member_id).where(CheckIn.meeting_id == meeting.id)))
    return quorum.compute(rule, roster, present)
