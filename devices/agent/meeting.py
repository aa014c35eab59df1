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
from typing import Any

from devices.agent.errors import MeetingError
from devices.agent.outbox import AckOutcome, Outbox
from devices.agent.protocol import BranchState, RosterMember
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
        self.leaves: dict[str, str] = {}  # member_id -> reason, filed here for the open meeting
        # What the hub last said about the branch (devices/agent/protocol.BranchState):
        self.hub_open: dict[str, Any] | None = None  # the branch's one open meeting
        self.schedule: tuple[dict[str, Any], ...] = ()  # meetings scheduled on the hub
        self.hub_attendance: dict[str, Any] | None = None  # the hub's numbers for the open meeting
        self._ended_here: set[str] = set()  # never re-adopted from a branch_state older than our end
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
        self, meeting_type: str, topic: str, *, scheduled_at: float | None = None,
        meeting_id: str | None = None,
    ) -> MeetingInfo:
        """Open a meeting here (`meeting_id` and `scheduled_at` when started
        from the hub's schedule). When the hub says the branch already has
        one open (another device started it), this device joins it."""
        if self.current is not None:
            raise MeetingError("a meeting is already open: end it before starting another", "meeting_already_open")
        if self.hub_open is not None and self.hub_open.get("id") not in self._ended_here:
            return await self.adopt(self.hub_open)
        if meeting_type not in MEETING_TYPES:
            raise MeetingError(f"unknown meeting type {meeting_type!r}: choose one from the list", "unknown_meeting_type")
        topic = topic.strip()
        if not topic:
            raise MeetingError("the meeting needs a topic: type one in", "topic_required")
        info = MeetingInfo(
            id=meeting_id or str(uuid.uuid4()), meeting_type=meeting_type, topic=topic,
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
        self.checkins, self.leaves = {}, {}
        self._changed()
        return info

    async def start_scheduled(self, meeting_id: str) -> MeetingInfo:
        """Start a meeting from the hub's schedule: its id, type, topic and
        scheduled start (late marks count from it)."""
        found = next((m for m in self.schedule if m.get("id") == meeting_id), None)
        if found is None:
            raise MeetingError("this meeting is not on the schedule any more: refresh and pick again", "not_scheduled")
        return await self.start_meeting(
            str(found["meeting_type"]), str(found.get("topic") or "") or MEETING_TYPES.get(
                str(found["meeting_type"]), (str(found["meeting_type"]), ""))[0],
            scheduled_at=_num(found.get("scheduled_start")), meeting_id=meeting_id)

    # -- the branch's one meeting, as the hub says -------------------------------
    async def apply_branch_state(self, state: BranchState) -> None:
        """Follow the hub: show the meeting another device of the branch
        opened, close the one it ended, keep the schedule and the numbers."""
        self.hub_open, self.schedule, self.hub_attendance = state.open_meeting, state.scheduled, state.attendance
        current = self.current
        if current is not None and current.id in state.ended_ids:
            await self._close_locally(current)
        elif (current is None and state.open_meeting is not None
              and state.open_meeting.get("id") not in self._ended_here):
            await self.adopt(state.open_meeting)
        self._changed()

    async def joined(self, own_id: str, meeting_id: str) -> None:
        """The hub answered our meeting.start: the branch already had `meeting_id`
        open, ours was merged into it. Our check-ins move along (the hub
        files those already sent under our id into the same meeting)."""
        current = self.current
        if current is None or current.id != own_id or own_id == meeting_id:
            return
        hub = self.hub_open if self.hub_open and self.hub_open.get("id") == meeting_id else {
            "id": meeting_id, "meeting_type": current.meeting_type, "topic": current.topic,
            "started_at": current.started_at, "scheduled_start": current.scheduled_at}

        def move(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE meetings SET ended_at = ? WHERE id = ?", (self.clock(), own_id))
            conn.execute("UPDATE OR IGNORE checkins SET meeting_id = ? WHERE meeting_id = ?", (meeting_id, own_id))

        await self.store.tx(move)
        self.current = None
        await self.adopt(hub)

    async def adopt(self, hub: dict[str, Any]) -> MeetingInfo:
        """Show the branch's open meeting here (no meeting.start: it is open already)."""
        info = MeetingInfo(
            id=str(hub["id"]), meeting_type=str(hub["meeting_type"]), topic=str(hub.get("topic") or ""),
            started_at=_num(hub.get("started_at")) or self.clock(), scheduled_at=_num(hub.get("scheduled_start")),
        )

        def q(conn: sqlite3.Connection) -> list[CheckIn]:
            conn.execute(
                "INSERT OR IGNORE INTO meetings(id, meeting_type, topic, started_at, scheduled_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (info.id, info.meeting_type, info.topic, info.started_at, info.scheduled_at),
            )
            conn.execute("UPDATE meetings SET ended_at = NULL WHERE id = ?", (info.id,))
            rows = conn.execute("SELECT * FROM checkins WHERE meeting_id = ? AND hub_state != 'rejected'",
                                (info.id,)).fetchall()
            return [_checkin(r) for r in rows]

        rows = await self.store.tx(q)
        self.current = info
        self.checkins, self.leaves = {c.member_id: c for c in rows}, {}
        self._changed()
        return info

    async def _close_locally(self, meeting: MeetingInfo) -> None:
        """Ended on the hub (by another device of the branch, or the county)."""
        def q(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE meetings SET ended_at = ? WHERE id = ?", (self.clock(), meeting.id))

        await self.store.tx(q)
        self.current = None
        self.checkins, self.leaves = {}, {}

    async def file_leave(self, member_id: str, reason: str) -> None:
        """请假 for a member of the roster who will not come to the open meeting."""
        member = self.roster.get(member_id)
        if member is None:
            raise MeetingError("this member is not on the roster: refresh the roster", "not_on_roster")
        if self.current is None:
            raise MeetingError("no meeting is open: leave is filed for the open meeting", "meeting_not_open")
        if member_id in self.checkins:
            raise MeetingError(f"{member.name} has checked in: no leave needed", "leave_after_checkin")
        reason = reason.strip()
        if not reason:
            raise MeetingError("a leave request needs a reason (请假事由): type one in", "leave_reason_required")
        await self.outbox.put("leave", {"meeting_id": self.current.id, "member_id": member.hub_id,
                                        "reason": reason})
        self.leaves[member_id] = reason
        self._changed()

    async def end_meeting(self) -> MeetingInfo:
        if self.current is None:
            raise MeetingError("no meeting is open", "meeting_not_open")
        ended = replace(self.current, ended_at=self.clock())

        def also(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE meetings SET ended_at = ? WHERE id = ?", (ended.ended_at, ended.id))

        await self.outbox.put(
            "meeting.end", {"meeting_id": ended.id, "ended_at": ended.ended_at}, also=also
        )
        self.current = None
        self.checkins, self.leaves = {}, {}
        self.hub_open = None  # ended here: until the hub says otherwise, nothing is open
        self._ended_here.add(ended.id)
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
        """Record the hub's answer to a check-in (late flag or final refusal),
        or to a meeting.start that joined the branch's open meeting."""
        message = outcome.message
        if message is not None and message.type == "meeting.start" and outcome.ok:
            joined = outcome.result.get("meeting_id")
            if outcome.result.get("joined") and isinstance(joined, str):
                await self.joined(str(message.fields.get("meeting_id")), joined)
            return
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


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _checkin(row: sqlite3.Row) -> CheckIn:
    return CheckIn(
        id=row["id"], meeting_id=row["meeting_id"], member_id=row["member_id"],
        method=row["method"], reason=row["reason"], checked_in_at=row["checked_in_at"],
        fp_slot=row["fp_slot"], late=bool(row["late"]), hub_state=row["hub_state"],
    )
