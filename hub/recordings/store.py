"""Database functions of the recordings domain: plain keyword-only functions
taking a session (blocking: call them from a worker thread, never on the loop)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.meetings.models import Meeting
from hub.recordings.models import MeetingRecording, RecordedSegment, RecordingIncident


def ensure_recording(
    session: Session, *, meeting_id: str, branch_id: int, meeting_type: str, started_at: datetime
) -> MeetingRecording:
    row = session.get(MeetingRecording, meeting_id)
    if row is None:
        row = MeetingRecording(
            meeting_id=meeting_id,
            branch_id=branch_id,
            meeting_type=meeting_type,
            started_at=started_at,
        )
        try:
            # several media nodes open the same meeting at once (hub/cluster/)
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            row = session.get_one(MeetingRecording, meeting_id, populate_existing=True)
    return row


def end_recording(session: Session, *, meeting_id: str, ended_at: datetime) -> None:
    row = session.get(MeetingRecording, meeting_id)
    if row is not None:
        row.ended_at = ended_at


def set_flagged(session: Session, *, meeting_id: str, flagged: bool) -> bool:
    row = session.get(MeetingRecording, meeting_id)
    if row is None:
        return False
    row.flagged = flagged
    return True


def add_segment(session: Session, *, segment: RecordedSegment) -> bool:
    """Index a segment; False if that segment id is already indexed."""
    if session.get(RecordedSegment, segment.id) is not None:
        return False
    session.add(segment)
    return True


def get_segment(session: Session, *, segment_id: str) -> RecordedSegment | None:
    return session.get(RecordedSegment, segment_id)


def list_segments(session: Session, *, meeting_id: str) -> list[RecordedSegment]:
    stmt = (
        select(RecordedSegment)
        .where(RecordedSegment.meeting_id == meeting_id)
        .order_by(RecordedSegment.started_at)
    )
    return list(session.scalars(stmt))


def get_meeting(session: Session, *, meeting_id: str) -> Meeting | None:
    return session.get(Meeting, meeting_id)


def add_incident(session: Session, *, meeting_id: str, branch_id: int, at: datetime, kind: str,
                 detail: str = "") -> None:
    session.add(RecordingIncident(meeting_id=meeting_id, branch_id=branch_id, at=at, kind=kind,
                                  detail=detail[:500]))


def list_incidents(session: Session, *, meeting_id: str) -> list[RecordingIncident]:
    stmt = (select(RecordingIncident).where(RecordingIncident.meeting_id == meeting_id)
            .order_by(RecordingIncident.at))
    return list(session.scalars(stmt))


def count(session: Session, *, meeting_id: str, rejected: int = 0, duplicates: int = 0) -> None:
    """Add to a recorded meeting's integrity counters."""
    session.execute(update(MeetingRecording).where(MeetingRecording.meeting_id == meeting_id).values(
        segments_rejected=MeetingRecording.segments_rejected + rejected,
        duplicates_dropped=MeetingRecording.duplicates_dropped + duplicates))


def get_recording(session: Session, *, meeting_id: str) -> MeetingRecording | None:
    return session.get(MeetingRecording, meeting_id)


def meeting_branch(session: Session, *, meeting_id: str) -> int | None:
    meeting = session.get(Meeting, meeting_id)
    if meeting is not None:
        return meeting.branch_id
    row = session.get(MeetingRecording, meeting_id)
    if row is not None:
        return row.branch_id
    seg = session.scalars(
        select(RecordedSegment).where(RecordedSegment.meeting_id == meeting_id).limit(1)
    ).first()
    return seg.branch_id if seg is not None else None


def indexed_paths(session: Session) -> set[str]:
    return set(session.scalars(select(RecordedSegment.path)))


def _not_flagged_meeting() -> Any:
    """Also keep meetings flagged on the meeting itself (by supervision, e.g.
    a headcount far below the check-ins, or by an inspector)."""
    return ~exists(select(Meeting.id).where(Meeting.id == MeetingRecording.meeting_id, Meeting.flagged.is_(True)))


def expired_meetings(session: Session, *, now: datetime, retention_days: dict[str, int]) -> list[str]:
    """Unflagged meetings older than their type's retention."""
    default = retention_days.get("default", 180)
    out = []
    for row in session.scalars(select(MeetingRecording).where(MeetingRecording.flagged.is_(False), _not_flagged_meeting())):
        days = retention_days.get(row.meeting_type, default)
        if (now - row.started_at).total_seconds() > days * 86400:
            out.append(row.meeting_id)
    return out


def oldest_unflagged(session: Session, *, exclude: set[str], limit: int = 10) -> list[str]:
    stmt = (
        select(MeetingRecording.meeting_id)
        .where(MeetingRecording.flagged.is_(False), _not_flagged_meeting())
        .order_by(MeetingRecording.started_at)
        .limit(limit + len(exclude))
    )
    return [m for m in session.scalars(stmt) if m not in exclude][:limit]


def delete_meeting(session: Session, *, meeting_id: str) -> list[str]:
    """Remove a meeting's index; returns the segment paths to delete from disk."""
    paths = list(
        session.scalars(select(RecordedSegment.path).where(RecordedSegment.meeting_id == meeting_id))
    )
    session.execute(delete(RecordedSegment).where(RecordedSegment.meeting_id == meeting_id))
    session.execute(delete(MeetingRecording).where(MeetingRecording.meeting_id == meeting_id))
    session.execute(delete(RecordingIncident).where(RecordingIncident.meeting_id == meeting_id))
    return paths
