"""Notification routes: meeting notices, reminders, the outbox."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from hub.api.deps import Ctx, CurrentOperator, SessionDep
from hub.audit import service as audit
from hub.errors import Invalid, NotFound
from hub.meetings import service as meetings
from hub.members.models import Member
from hub.organisations.models import OrgUnit
from hub.organisations.service import get_branch_visible, get_visible
from hub.supervision.common import scope_unit
from hub.supervision.config import settings_for
from hub.supervision.notifications import service
from hub.supervision.notifications.models import Notification

router = APIRouter(prefix="/api/v1/supervision/notifications", tags=["supervision: notifications"])


class NotificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    key: str
    channel: str
    kind: str
    branch_id: int | None
    member_id: int | None
    operator_id: int | None = None
    meeting_id: str | None
    recipient: str
    phone: str | None
    title: str
    text: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_by: str
    created_at: datetime
    sent_at: datetime | None
    read_at: datetime | None


class MeetingNoticeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    meeting_id: str
    channels: list[str] = Field(default_factory=lambda: ["app"])
    text: str | None = Field(default=None, max_length=500)


class ReminderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    branch_id: int
    text: str = Field(min_length=2, max_length=500)
    channels: list[str] = Field(default_factory=lambda: ["app"])


class QueueResultRead(BaseModel):
    created: int
    skipped: int
    ids: list[int]


def _channels(channels: list[str]) -> list[str]:
    bad = [c for c in channels if c not in ("app", "sms")]
    if bad or not channels:
        raise Invalid("channels must list app and/or sms.")
    return list(dict.fromkeys(channels))


@router.get("", response_model=list[NotificationRead])
def list_notifications(session: SessionDep, op: CurrentOperator, unit_id: int | None = None, status: str | None = None,
                       channel: str | None = None, kind: str | None = None, limit: int = 200) -> list:
    unit = scope_unit(session, op, unit_id)
    stmt = (select(Notification).join(OrgUnit, OrgUnit.id == Notification.branch_id).where(OrgUnit.path.startswith(unit.path))
            .order_by(Notification.id.desc()).limit(min(limit, 2000)))
    for col, value in ((Notification.status, status), (Notification.channel, channel), (Notification.kind, kind)):
        if value:
            stmt = stmt.where(col == value)
    return list(session.scalars(stmt))


@router.get("/inbox", response_model=list[NotificationRead])
def inbox(session: SessionDep, op: CurrentOperator, unread: bool = False, limit: int = 200) -> list:
    """The signed-in account's own in-app messages (a branch secretary's
    meeting notices, reminders, plan reviews, rectification items), newest first."""
    return service.inbox(session, operator_id=op.id, unread_only=unread, limit=limit)


@router.get("/summary")
def summary(session: SessionDep, op: CurrentOperator, unit_id: int | None = None) -> dict[str, dict[str, int]]:
    unit = scope_unit(session, op, unit_id)
    rows = session.execute(select(Notification.channel, Notification.status, func.count())
                           .join(OrgUnit, OrgUnit.id == Notification.branch_id).where(OrgUnit.path.startswith(unit.path))
                           .group_by(Notification.channel, Notification.status))
    out: dict[str, dict[str, int]] = {}
    for ch, st, n in rows:
        out.setdefault(ch, {})[st] = n
    return out


@router.post("/meeting-notice", response_model=QueueResultRead, status_code=201)
def meeting_notice(body: MeetingNoticeIn, session: SessionDep, op: CurrentOperator, ctx: Ctx) -> QueueResultRead:
    op.require_write()
    meeting = meetings.get(session, body.meeting_id)
    branch = get_visible(session, op, meeting.branch_id)
    when = meeting.scheduled_start or meeting.started_at
    subject = meeting.topic or meeting.meeting_type
    if body.text:
        text = body.text
    elif when is not None:
        local = when + timedelta(hours=settings_for(ctx).utc_offset_hours)
        text = f"{branch.name}定于{local:%m月%d日 %H:%M}召开会议：{subject}，请准时参加。"
    else:
        text = f"{branch.name}将召开会议：{subject}，请准时参加。"
    res = service.meeting_notice(session, meeting=meeting, channels=_channels(body.channels), text=text, created_by=op.username)
    audit.record(session, actor=op.username, action="meeting_notice_sent", target=f"meeting:{meeting.id}", branch_id=branch.id,
                 detail={"created": len(res.created), "skipped": res.skipped, "channels": body.channels})
    return QueueResultRead(created=len(res.created), skipped=res.skipped, ids=[n.id for n in res.created])


@router.post("/reminder", response_model=QueueResultRead, status_code=201)
def reminder(body: ReminderIn, session: SessionDep, op: CurrentOperator) -> QueueResultRead:
    """A reminder to the branch's committee (the secretary and members)."""
    op.require_write()
    branch = get_branch_visible(session, op, body.branch_id)
    committee = list(session.scalars(select(Member).where(Member.branch_id == branch.id, Member.active.is_(True),
                                                          Member.committee.is_(True)).order_by(Member.id)))
    if not committee:
        raise Invalid(f"{branch.name} has no committee member on its roster; mark the secretary as 支委 first.")
    created, skipped = [], 0
    for m in committee:
        for ch in _channels(body.channels):
            if ch == "sms" and not m.phone:
                skipped += 1
                continue
            n = service.enqueue(session, channel=ch, kind="reminder", title="工作提醒", text=body.text, member=m, created_by=op.username)
            if n is not None:
                created.append(n)
    if "app" in body.channels:
        created += service.to_secretaries(session, branch_id=branch.id, kind="reminder", title="工作提醒", text=body.text,
                                          created_by=op.username)
    audit.record(session, actor=op.username, action="reminder_sent", target=f"org_unit:{branch.id}", branch_id=branch.id,
                 detail={"created": len(created), "text": body.text})
    return QueueResultRead(created=len(created), skipped=skipped, ids=[n.id for n in created])


def _visible(session: SessionDep, op: CurrentOperator, notification_id: int) -> Notification:
    n = service.get(session, notification_id)
    if op.is_branch_secretary and n.operator_id != op.id:
        # A secretary reads only its own inbox.
        raise NotFound(f"Notification {notification_id} does not exist or is not addressed to you.")
    if n.branch_id is None:
        op.require_admin()
    else:
        get_visible(session, op, n.branch_id)
    return n


@router.post("/{notification_id}/retry", response_model=NotificationRead)
def retry(notification_id: int, session: SessionDep, op: CurrentOperator) -> object:
    op.require_write()
    n = service.retry_failed(session, notification=_visible(session, op, notification_id))
    audit.record(session, actor=op.username, action="notification_retried", target=f"notification:{n.id}", branch_id=n.branch_id)
    return n


@router.post("/{notification_id}/read", response_model=NotificationRead)
def mark_read(notification_id: int, session: SessionDep, op: CurrentOperator) -> object:
    return service.mark_read(session, notification=_visible(session, op, notification_id))
