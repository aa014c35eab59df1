"""Queueing notifications and moving them through their states.

Every state change is committed before the next step, so after a crash the
outbox tells exactly what happened: `sending` means an attempt may or may
not have reached the gateway, and it is retried with the same key."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from hub.auth.models import Operator
from hub.auth.principal import BRANCH_SECRETARY
from hub.db import utcnow
from hub.errors import Conflict, Invalid, NotFound
from hub.meetings.models import Meeting
from hub.members.models import Member
from hub.supervision.config import SmsGatewaySettings
from hub.supervision.notifications.models import CHANNELS, Notification


@dataclass(frozen=True)
class QueueResult:
    created: list[Notification]
    skipped: int


def enqueue(
    session: Session, *, channel: str, kind: str, text: str, title: str = "", branch_id: int | None = None,
    member: Member | None = None, phone: str | None = None, recipient: str = "", meeting_id: str | None = None,
    dedupe: str | None = None, created_by: str = "system", operator_id: int | None = None,
) -> Notification | None:
    """Queue one message; None if a message with the same `dedupe` exists."""
    if channel not in CHANNELS:
        raise Invalid(f"channel must be one of {', '.join(CHANNELS)}")
    if not text.strip():
        raise Invalid("The message text is empty; write what the recipient should know.")
    if dedupe and session.scalar(select(Notification.id).where(Notification.dedupe == dedupe)):
        return None
    phone = phone or (member.phone if member else None)
    if channel == "sms" and not phone:
        raise Invalid(f"{recipient or (member.name if member else 'The recipient')} has no phone number; "
                      "add one to the roster or send in the app.")
    now = utcnow()
    n = Notification(
        key=str(uuid.uuid4()), dedupe=dedupe, channel=channel, kind=kind, branch_id=branch_id or (member.branch_id if member else None),
        member_id=member.id if member else None, operator_id=operator_id, meeting_id=meeting_id, recipient=recipient or (member.name if member else ""),
        phone=phone, title=title, text=text, created_by=created_by, created_at=now,
    )
    if channel == "app":
        # The in-app inbox is this table: storing the row delivers it.
        n.status, n.sent_at = "sent", now
    else:
        n.status, n.next_attempt_at = "queued", now
    session.add(n)
    session.flush()
    return n


def secretaries_of(session: Session, branch_id: int) -> list[Operator]:
    return list(session.scalars(select(Operator).where(
        Operator.role == BRANCH_SECRETARY, Operator.scope_id == branch_id, Operator.active.is_(True)).order_by(Operator.id)))


def to_secretaries(
    session: Session, *, branch_id: int, kind: str, title: str, text: str, dedupe: str | None = None,
    meeting_id: str | None = None, created_by: str = "system",
) -> list[Notification]:
    """An in-app message to the branch: one row in each of its secretaries'
    inboxes (members have no app; the secretary reads it for the branch).
    `dedupe` is suffixed with the account, so repeats are queued once."""
    out: list[Notification] = []
    for op in secretaries_of(session, branch_id):
        n = enqueue(session, channel="app", kind=kind, title=title, text=text, branch_id=branch_id,
                    recipient=op.display_name or op.username, operator_id=op.id, meeting_id=meeting_id,
                    dedupe=f"{dedupe}:op{op.id}" if dedupe else None, created_by=created_by)
        if n is not None:
            out.append(n)
    return out


def meeting_notice(
    session: Session, *, meeting: Meeting, channels: Sequence[str], text: str, created_by: str,
) -> QueueResult:
    """A notice of the meeting to every active member of its branch, once
    per member and channel; members without a phone get no SMS."""
    if not channels:
        raise Invalid("Choose at least one channel: app or sms.")
    members = session.scalars(select(Member).where(Member.branch_id == meeting.branch_id, Member.active.is_(True)).order_by(Member.id))
    created: list[Notification] = []
    skipped = 0
    for m in members:
        for ch in channels:
            if ch == "sms" and not m.phone:
                skipped += 1
                continue
            n = enqueue(session, channel=ch, kind="meeting_notice", text=text, title="会议通知", member=m,
                        meeting_id=meeting.id, dedupe=f"meeting_notice:{meeting.id}:{m.id}:{ch}", created_by=created_by)
            if n is None:
                skipped += 1
            else:
                created.append(n)
    if "app" in channels:
        created += to_secretaries(session, branch_id=meeting.branch_id, kind="meeting_notice", title="会议通知",
                                  text=text, meeting_id=meeting.id, dedupe=f"meeting_notice:{meeting.id}",
                                  created_by=created_by)
    return QueueResult(created, skipped)


def backoff(settings: SmsGatewaySettings, attempts: int) -> timedelta:
    delay = settings.backoff_initial_seconds * (2 ** max(0, attempts - 1))
    return timedelta(seconds=min(delay, settings.backoff_max_seconds))


def due(session: Session, *, now: datetime, limit: int = 50) -> list[int]:
    stmt = (select(Notification.id).where(Notification.channel == "sms", Notification.status == "queued",
                                          or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now))
            .order_by(Notification.next_attempt_at, Notification.id).limit(limit))
    return list(session.scalars(stmt))


def claim(session: Session, *, notification_id: int, now: datetime) -> Notification | None:
    """queued -> sending, attempts + 1, committed before the request goes
    out. The conditional update makes two dispatchers never send one row."""
    res = session.execute(
        update(Notification).where(Notification.id == notification_id, Notification.status == "queued")
        .values(status="sending", attempts=Notification.attempts + 1, next_attempt_at=now)
    )
    session.commit()
    if res.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.get(Notification, notification_id)


def mark_sent(session: Session, *, notification_id: int, note: str, now: datetime) -> None:
    n = session.get(Notification, notification_id)
    assert n is not None
    n.status, n.sent_at, n.last_error = "sent", now, None if note.startswith("HTTP 2") else note
    session.commit()


def mark_failed_attempt(
    session: Session, *, notification_id: int, error: str, retryable: bool, settings: SmsGatewaySettings, now: datetime,
) -> None:
    n = session.get(Notification, notification_id)
    assert n is not None
    n.last_error = error[:500]
    if retryable and n.attempts < settings.max_attempts:
        n.status, n.next_attempt_at = "queued", now + backoff(settings, n.attempts)
    else:
        n.status, n.next_attempt_at = "failed", None
    session.commit()


def recover_interrupted(session: Session) -> int:
    """Rows left in `sending` by a crash go back to the queue with the same
    key: the gateway recognises the key if the first attempt got through."""
    res = session.execute(update(Notification).where(Notification.status == "sending").values(status="queued"))
    session.commit()
    return int(res.rowcount or 0)  # type: ignore[attr-defined]


def retry_failed(session: Session, *, notification: Notification) -> Notification:
    if notification.status != "failed":
        raise Conflict(f"Only failed messages can be retried; this one is {notification.status}.")
    notification.status, notification.next_attempt_at, notification.attempts = "queued", utcnow(), 0
    return notification


def get(session: Session, notification_id: int) -> Notification:
    n = session.get(Notification, notification_id)
    if n is None:
        raise NotFound(f"Notification {notification_id} does not exist.")
    return n


def inbox(session: Session, *, operator_id: int, unread_only: bool = False, limit: int = 200) -> list[Notification]:
    stmt = select(Notification).where(Notification.operator_id == operator_id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    return list(session.scalars(stmt.order_by(Notification.id.desc()).limit(min(limit, 2000))))


def mark_read(session: Session, *, notification: Notification) -> Notification:
    if notification.channel != "app":
        raise Invalid("Only in-app messages can be marked read.")
    if notification.read_at is None:
        notification.read_at, notification.status = utcnow(), "read"
    return notification
