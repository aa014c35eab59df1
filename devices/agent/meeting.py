"""The meeting and check-in state machine of one village hall.

    IDLE --start_meeting--> OPEN --end_meeting--> IDLE

Check-ins are judged locally so the kiosk answers at once, even with the
hub down: no meeting open, not a member of this branch (fingerprint slot not
mapped, or the member is no longer on the cached roster), already checked
in, staff check-in without a reason. An accepted check-in is written to the
local `checkins` table and to the outbox in one transaction, with its own
UUID as idempotency key; the hub's answer (late flag, or a final refusal)
is applied when its ack arrives. Meeting ids are UUIDs made here, so a
meeting can start offline. State survives an agent restart (`load`).
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum

from devices.agent.errors import MeetingError
from devices.agent.outbox import AckOutcome, Outbox
from devices.agent.protocol import RosterMember
from devices.agent.roster import RosterCache, SlotMap
from devices.agent.store import Store

# Meeting type codes of docs/protocols/edge-ws.md with their labels.
MEETING_TYPES: dict[str, tuple[str, str]] = {
    "general_meeting": ("支部党员大会", "Branch general meeting"),
    "committee": ("支委会", "Branch committee"),
    "group_meeting": ("党小组会", "Party group meeting"),
    "party_lecture": ("党课", "Party lecture"),
    "theme_day": ("主题党日", "Theme party day"),
    "life_meeting": ("组织生活会", "Organisational life meeting"),
    "appraisal": ("民主评议党员", "Democratic appraisal"),
    "election": ("换届选举", "Election"),
}

METHODS = ("fingerprint", "staff")


class MeetingState(StrEnum):
    IDLE = "idle"
    OPEN = "open"


class CheckInOutcome(StrEnum):
    ACCEPTED = "accepted"
    ALREADY_CHECKED_IN = "already_checked_in"
    NOT_A_MEMBER = "not_a_member"
    NO_MEETING = "no_meeting"
    REASON_REQUIRED = "reason_required"


@dataclass(frozen=True)
class MeetingInfo:
    id: str
    meeting_type: str
    topic: str
    started_at: float
    scheduled_at: float | None = None
    ended_at: float | None = None


@dataclass(frozen=True)
class CheckIn:
    id: str
    meeting_id: str
    member_id: str
    method: str
    reason: str | None
    checked_in_at: float
    fp_slot: int | None
    late: bool
    hub_state: str = "pending"  # pending | accepted | rejected


@dataclass(frozen=True)
class CheckInResult:
    outcome: CheckInOutcome
    member: RosterMember | None = None
    checkin: CheckIn | None = None

    @property
    def accepted(self) -> bool:
        return self.outcome is CheckInOutcome.ACCEPTED


class MeetingDesk:
    """Meeting lifecycle and check-ins for one hall."""

    def __init__(
        self,
        store: Store,
        outbox: Outbox,
        roster: RosterCache,
        slots: SlotMap,
        *,
        late_grace_s: float = 600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.roster = roster
        self.slots = slots
        self.late_grace_s = late_grace_s
        self.clock = clock
        self.current: MeetingInfo | None = None
        self.checkins: dict[str, CheckIn] = {}  # member_id -> check-in, open meeting only
        self._listeners: list[Callable[[], None]] = []

    @property
    def state(self) -> MeetingState:
        return MeetingState.IDLE if self.current is None else MeetingState.OPEN

    def on_change(self, fn: Callable[[], None]) -> None:
        self._listeners.append(fn)

    def _changed(self) -> None:
        for fn in list(self._listeners):
            fn()

    async def load(self) -> None:
        """Restore the open meeting and its check-ins after a restart."""

        def q(conn: sqlite3.Connection) -> tuple[MeetingInfo | None, list[CheckIn]]:
            row = conn.execute(
                "SELECT * FROM meetings WHERE ended_at IS NULL ORDER BY started_at DESC LIMIT 1"
            ).fetchone()
            if row is None:
                return None, []
            info = MeetingInfo(
                id=row["id"], meeting_type=row["meeting_type"], topic=row["topic"],
                started_at=row["started_at"], scheduled_at=row["scheduled_at"],
            )
            rows = conn.execute(
                "SELECT * FROM checkins WHERE meeting_id = ? AND hub_state != 'rejected'",
                (info.id,),
            ).fetchall()
            return info, [_checkin(r) for r in rows]

        self.current, rows = await self.store.tx(q)
        self.checkins = {c.member_id: c for c in rows}

    # -- meetings -------------------------------------------------------------
    async def start_meeting(
        self, meeting_type: str, topic: str, *, scheduled_at: float | None = None
    ) -> MeetingInfo:
        if self.current is not None:
            raise MeetingError("a meeting is already open: end it before starting another")
        if meeting_type not in MEETING_TYPES:
            raise MeetingError(f"unknown meeting type {meeting_type!r}: choose one from the list")
        topic = topic.strip()
        if not topic:
            raise MeetingError("the meeting needs a topic: type one in")
        info = MeetingInfo(
            id=str(uuid.uuid4()), meeting_type=meeting_type, topic=topic,
            started_at=self.clock(), scheduled_at=scheduled_at,
        )

        def also(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO meetings(id, meeting_type, topic, started_at, scheduled_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (info.id, info.meeting_type, info.topic, info.started_at, info.scheduled_at),
            )

        await self.outbox.put(
            "meeting.start",
            {"meeting_id": info.id, "meeting_type": meeting_type, "topic": topic,
             "started_at": info.started_at},
            also=also,
        )
        self.current = info
        self.checkins = {}
        self._changed()
        return info

    async def end_meeting(self) -> MeetingInfo:
        if self.current is None:
            raise MeetingError("no meeting is open")
        ended = replace(self.current, ended_at=self.clock())

        def also(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE meetings SET ended_at = ? WHERE id = ?", (ended.ended_at, ended.id))

        await self.outbox.put(
            "meeting.end", {"meeting_id": ended.id, "ended_at": ended.ended_at}, also=also
        )
        self.current = None
        self.checkins = {}
        self._changed()
        return ended

    def is_late(self, at: float) -> bool:
        if self.current is None:
            return False
        reference = self.current.scheduled_at or self.current.started_at
        return at > reference + self.late_grace_s

    # -- check-in -------------------------------------------------------------
    async def check_in_slot(self, slot: int, *, at: float | None = None) -> CheckInResult:
        """A finger matched `slot` on the reader."""
        member_id = self.slots.member_for(slot)
        if member_id is None:
            return CheckInResult(CheckInOutcome.NOT_A_MEMBER)
        return await self.check_in(member_id, method="fingerprint", fp_slot=slot, at=at)

    async def check_in(
        self,
        member_id: str,
        *,
        method: str = "fingerprint",
        reason: str | None = None,
        fp_slot: int | None = None,
        at: float | None = None,
    ) -> CheckInResult:
        if method not in METHODS:
            raise ValueError(f"check-in method must be one of {METHODS}, not {method!r}")
        member = self.roster.get(member_id)
        if member is None:
            return CheckInResult(CheckInOutcome.NOT_A_MEMBER)
        if self.current is None:
            return CheckInResult(CheckInOutcome.NO_MEETING, member)
        if member_id in self.checkins:
            return CheckInResult(
                CheckInOutcome.ALREADY_CHECKED_IN, member, self.checkins[member_id]
            )
        reason = (reason or "").strip() or None
        if method == "staff" and reason is None:
            return CheckInResult(CheckInOutcome.REASON_REQUIRED, member)
        when = self.clock() if at is None else at
        record = CheckIn(
            id=str(uuid.uuid4()), meeting_id=self.current.id, member_id=member_id,
            method=method, reason=reason, checked_in_at=when, fp_slot=fp_slot,
            late=self.is_late(when),
        )

        def also(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO checkins(id, meeting_id, member_id, method, reason, checked_in_at, "
                "fp_slot, late) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (record.id, record.meeting_id, record.member_id, record.method, record.reason,
                 record.checked_in_at, record.fp_slot, int(record.late)),
            )

        fields: dict[str, object] = {
            "meeting_id": record.meeting_id, "member_id": member.hub_id, "method": method,
            "reason": reason, "checked_in_at": when,
        }
        if fp_slot is not None:
            fields["fp_slot"] = fp_slot
        try:
            await self.outbox.put("checkin", fields, id=record.id, also=also)
        except Exception as exc:
            if "UNIQUE" in str(exc):  # raced with another check-in of the same member
                return CheckInResult(CheckInOutcome.ALREADY_CHECKED_IN, member)
            raise
        self.checkins[member_id] = record
        self._changed()
        return CheckInResult(CheckInOutcome.ACCEPTED, member, record)

    async def record_headcount(self, count: int, *, taken_at: float | None = None) -> None:
        await self.outbox.put(
            "headcount",
            {"meeting_id": self.current.id if self.current else None, "count": int(count),
             "taken_at": self.clock() if taken_at is None else taken_at},
        )

    async def apply_ack(self, outcome: AckOutcome) -> None:
        """Record the hub's answer to a check-in (late flag or final refusal)."""
        message = outcome.message
        if message is None or message.type != "checkin":
            return
        hub_state = "accepted" if outcome.ok else "rejected"
        if outcome.error_code == "already_checked_in":
            hub_state = "accepted"  # the hub has it already: still counts
        late = outcome.result.get("late") if outcome.ok else None

        def q(conn: sqlite3.Connection) -> None:
            if isinstance(late, bool):
                conn.execute(
                    "UPDATE checkins SET hub_state = ?, late = ? WHERE id = ?",
                    (hub_state, int(late), message.id),
                )
            else:
                conn.execute(
                    "UPDATE checkins SET hub_state = ? WHERE id = ?", (hub_state, message.id)
                )

        await self.store.tx(q)
        member_id = str(message.fields.get("member_id"))
        current = self.checkins.get(member_id)
        if current is not None and current.id == message.id:
            if hub_state == "rejected":
                del self.checkins[member_id]
            else:
                self.checkins[member_id] = replace(
                    current, hub_state=hub_state,
                    late=late if isinstance(late, bool) else current.late,
                )
        self._changed()


def _checkin(row: sqlite3.Row) -> CheckIn:
    return CheckIn(
        id=row["id"], meeting_id=row["meeting_id"], member_id=row["member_id"],
        method=row["method"], reason=row["reason"], checked_in_at=row["checked_in_at"],
        fp_slot=row["fp_slot"], late=bool(row["late"]), hub_state=row["hub_state"],
    )
