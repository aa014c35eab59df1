"""The hall: what the kiosk shows and does, on top of the meeting desk.

It turns fingerprint reader events into check-ins and prompts, runs staff
check-ins and finger enrolments for the admin mode, and builds the snapshot
the kiosk page renders. Prompt state machine (transient prompts fall back
to the resting prompt after `prompt_hold_s`, computed when read, so no timer
task is needed):

    resting: PRESS_FINGER | NO_MEETING | READER_FAULT | NO_READER
    transient: CHECKED_IN, ALREADY_CHECKED_IN, NOT_A_MEMBER, NOT_RECOGNISED,
               POOR_IMAGE, READ_FAILED, ASK_STAFF, ENROL_DONE, ENROL_FAILED,
               LIBRARY_FULL, REASON_REQUIRED, RESTORE_DONE, RESTORE_FAILED,
               STORE_FAILED (a matched finger whose check-in could not be
               written, e.g. a full disk: the member is sent to staff and the
               secretary sees it in `unstored` and in the faults)
    restoring: RESTORING -> RESTORE_DONE | RESTORE_FAILED (cancellable)
    enrolling: ENROL_PRESS -> ENROL_LIFT -> ENROL_AGAIN -> ENROL_DONE | ENROL_FAILED

A finger that fails `max_failed_reads` times in a row (poor image, not
recognised, a garbled exchange) gets ASK_STAFF: staff check the member in
by name. A match resets the count.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from devices.agent.errors import ReaderUnavailable
from devices.agent.meeting import MEETING_TYPES, CheckInOutcome, CheckInResult, MeetingDesk
from devices.agent.outbox import AckOutcome, Outbox
from devices.agent.reader import ENROL_AGAIN, ENROL_LIFT, ENROL_PRESS, FingerprintReader
from devices.agent.reader import event_name as _event_name

log = logging.getLogger(__name__)
LIBRARY_FULL_CODE = 0x1F  # the module's confirmation code "library full" (datasheet)


class Prompt(StrEnum):
    PRESS_FINGER = "press_finger"
    NO_MEETING = "no_meeting"
    READER_FAULT = "reader_fault"
    NO_READER = "no_reader"
    CHECKED_IN = "checked_in"
    ALREADY_CHECKED_IN = "already_checked_in"
    NOT_A_MEMBER = "not_a_member"
    NOT_RECOGNISED = "not_recognised"
    POOR_IMAGE = "poor_image"
    READ_FAILED = "read_failed"
    ASK_STAFF = "ask_staff"
    REASON_REQUIRED = "reason_required"
    ENROL_PRESS = "enrol_press"
    ENROL_LIFT = "enrol_lift"
    ENROL_AGAIN = "enrol_again"
    ENROL_DONE = "enrol_done"
    ENROL_FAILED = "enrol_failed"
    LIBRARY_FULL = "library_full"
    RESTORE_DONE = "restore_done"
    RESTORE_FAILED = "restore_failed"
    RESTORING = "restoring"
    STORE_FAILED = "store_failed"


class ReaderStatus(StrEnum):
    ABSENT = "absent"
    READY = "ready"
    FAULT = "fault"


_OUTCOME_PROMPT = {
    CheckInOutcome.ACCEPTED: Prompt.CHECKED_IN,
    CheckInOutcome.ALREADY_CHECKED_IN: Prompt.ALREADY_CHECKED_IN,
    CheckInOutcome.NOT_A_MEMBER: Prompt.NOT_A_MEMBER,
    CheckInOutcome.NO_MEETING: Prompt.NO_MEETING,
    CheckInOutcome.REASON_REQUIRED: Prompt.REASON_REQUIRED,
}
_ENROL_PROMPT = {ENROL_PRESS: Prompt.ENROL_PRESS, ENROL_LIFT: Prompt.ENROL_LIFT,
                 ENROL_AGAIN: Prompt.ENROL_AGAIN}
_STICKY = {Prompt.ENROL_PRESS, Prompt.ENROL_LIFT, Prompt.ENROL_AGAIN, Prompt.RESTORING}


class Changes:
    """Wakes every waiter on a change (the kiosk's live stream)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.version = 0

    def notify(self) -> None:
        self.version += 1
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self, timeout: float) -> bool:
        """True on a change, False on timeout."""
        event = self._event
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        return True


@dataclass
class LastCheckIn:
    member_id: str
    name: str
    at: float
    method: str
    late: bool


class Hall:
    def __init__(
        self,
        desk: MeetingDesk,
        outbox: Outbox,
        *,
        reader: FingerprintReader | None = None,
        uplink_status: Callable[[], dict[str, Any]] | None = None,
        prompt_hold_s: float = 6.0,
        enrol_timeout_s: float = 90.0,
        max_failed_reads: int = 3,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.desk = desk
        self.outbox = outbox
        self.roster = desk.roster
        self.slots = desk.slots
        self.reader = reader
        self.uplink_status = uplink_status or (lambda: {"state": "offline", "error": None})
        self.prompt_hold_s = prompt_hold_s
        self.enrol_timeout_s = enrol_timeout_s
        self.max_failed_reads = max_failed_reads
        self.failed_reads = 0
        self.fingerprints: Any = None  # devices.agent.fpsync.FingerprintSync, when wired
        self.clock = clock
        self.reader_status = ReaderStatus.ABSENT if reader is None else ReaderStatus.READY
        self.reader_message: str | None = None
        self.last: LastCheckIn | None = None
        self._prompt: Prompt | None = None
        self._prompt_name: str | None = None
        self._prompt_at = 0.0
        self._enrol_lock = asyncio.Lock()
        self._restore_task: asyncio.Task[Any] | None = None
        self.unstored: list[dict[str, Any]] = []  # matched fingers not written: staff must register them
        self.changes = Changes()
        desk.on_change(self.changes.notify)
        outbox.on_change(self.changes.notify)
        self.roster.on_change(self.changes.notify)

    # -- prompts ------------------------------------------------------------
    def _say(self, prompt: Prompt, name: str | None = None) -> None:
        self._prompt, self._prompt_name, self._prompt_at = prompt, name, self.clock()
        self.changes.notify()

    def resting_prompt(self) -> Prompt:
        if self.reader_status is ReaderStatus.FAULT:
            return Prompt.READER_FAULT
        if self.desk.current is None:
            return Prompt.NO_MEETING
        if self.reader_status is ReaderStatus.ABSENT:
            return Prompt.NO_READER
        return Prompt.PRESS_FINGER

    def prompt(self) -> tuple[Prompt, str | None]:
        p = self._prompt
        if p is None:
            return self.resting_prompt(), None
        if p not in _STICKY and self.clock() - self._prompt_at > self.prompt_hold_s:
            return self.resting_prompt(), None
        return p, self._prompt_name

    @property
    def module_lock(self) -> asyncio.Lock:
        """Held while the module is enrolling or being restored (check-ins pause)."""
        return self._enrol_lock

    def set_reader_status(self, status: ReaderStatus, message: str | None = None) -> None:
        self.reader_status, self.reader_message = status, message
        self.changes.notify()

    # -- check-ins -----------------------------------------------------------
    def _show(self, result: CheckInResult) -> None:
        name = result.member.name if result.member else None
        if result.accepted and result.checkin is not None and result.member is not None:
            self.last = LastCheckIn(
                member_id=result.member.id, name=result.member.name,
                at=result.checkin.checked_in_at, method=result.checkin.method,
                late=result.checkin.late,
            )
        self._say(_OUTCOME_PROMPT[result.outcome], name)

    async def finger_matched(self, slot: int) -> CheckInResult | None:
        """A matched finger is always answered: checked in, or (when the
        check-in cannot be stored) sent to staff, who register it by hand."""
        try:
            result = await self.desk.check_in_slot(slot)
        except Exception as exc:
            member_id = self.slots.member_for(slot)
            member = self.roster.get(member_id) if member_id is not None else None
            name = member.name if member else None
            log.error("check-in of slot %s (%s) could not be stored: %r", slot, name, exc)
            self.unstored = [*self.unstored[-19:], {"name": name, "member_id": member_id,
                                                     "at": self.clock(), "error": str(exc)}]
            self._say(Prompt.STORE_FAILED, name)
            return None
        self._show(result)
        return result

    async def staff_check_in(self, member_id: str, reason: str | None) -> CheckInResult:
        result = await self.desk.check_in(member_id, method="staff", reason=reason)
        self._show(result)
        return result

    async def handle_reader_event(self, event: object) -> None:
        """Apply one event from the fingerprint reader."""
        name = _event_name(event)
        if self._enrol_lock.locked() and name in {"FingerMatched", "NotRecognised", "PoorImage",
                                                  "ReadFailed"}:
            return  # the enrolment owns the reader
        if name in {"ReaderReady", "ReaderReconnected"}:
            self.set_reader_status(ReaderStatus.READY)
            if self._prompt is Prompt.READER_FAULT:
                self._prompt = None
            if name == "ReaderReconnected" and self.fingerprints is not None:
                self.fingerprints.check_library()  # the module may have been swapped
        elif name == "FingerMatched":
            self.failed_reads = 0
            await self.finger_matched(int(getattr(event, "slot")))  # noqa: B009
        elif name == "NotRecognised":
            self._failed_read(Prompt.NOT_RECOGNISED)
            if self.fingerprints is not None:
                self.fingerprints.check_library()  # an emptied module recognises nobody
        elif name == "PoorImage":
            self._failed_read(Prompt.POOR_IMAGE)
        elif name == "ReadFailed":
            self._failed_read(Prompt.READ_FAILED)
        elif name == "ReaderFault":
            self.set_reader_status(ReaderStatus.FAULT, str(getattr(event, "message", "")))
        else:
            log.debug("ignoring reader event %s", name)

    def _failed_read(self, prompt: Prompt) -> None:
        self.failed_reads += 1
        if self.failed_reads >= self.max_failed_reads:
            self.failed_reads = 0
            self._say(Prompt.ASK_STAFF)
        else:
            self._say(prompt)

    async def on_ack(self, outcome: AckOutcome) -> None:
        await self.desk.apply_ack(outcome)
        self.changes.notify()

    async def on_branch_state(self, state: object) -> None:
        """The hub's word on the branch: its open meeting, schedule and numbers."""
        await self.desk.apply_branch_state(state)  # type: ignore[arg-type]
        self.changes.notify()

    def attendance(self) -> dict[str, Any]:
        """实到 / 应到 / 请假 / quorum as the wall shows them: the hub's numbers
        (hub/attendance/summary.py), plus this kiosk's check-ins and leave
        requests the hub has not acknowledged yet. Offline and never told,
        the kiosk counts its own (`source: local`, no quorum). Either way a
        committee meeting (支委会) counts only the committee members."""
        meeting = self.desk.current
        local_present = {self._wire(m) for m in self.desk.checkins}
        local_leave = {self._wire(m) for m in self.desk.leaves}
        # Whom the meeting calls, by this hall's roster: the hub's default rule
        # for the committee type is half_committee (the committee only).
        committee_only = meeting is not None and meeting.meeting_type == "committee"
        members = [m for m in self.roster.members() if m.committee or not committee_only]
        called = {str(m.hub_id) for m in members}
        excused = {str(m.hub_id) for m in members if m.excused}
        hub = self.desk.hub_attendance
        if meeting is None or hub is None or hub.get("meeting_id") != meeting.id:
            return self._numbers("local", called, excused, local_present, local_leave, None)
        if "called_ids" in hub:  # the hub's word (a hub before it sent these: this roster's)
            called = {str(i) for i in hub.get("called_ids") or []}
            excused = {str(i) for i in hub.get("excused_ids") or []}
        present = {str(i) for i in hub.get("present_ids") or []} | local_present
        leave = {str(i) for i in hub.get("leave_ids") or []} | local_leave
        q = dict(hub.get("quorum") or {})
        return self._numbers("hub", called, excused, present, leave, q or None,
                             {str(i) for i in hub.get("counted_ids") or []})

    @staticmethod
    def _numbers(source: str, called: set[str], excused: set[str], present: set[str], leave: set[str],
                 q: dict[str, Any] | None, counted: Collection[str] = ()) -> dict[str, Any]:
        """The summary's arithmetic (hub/attendance/summary.py) on wire ids."""
        present = present & called
        leave = (leave & called) - present
        expected = len(called - excused) + len(present & excused)
        if q:
            counted = set(counted)
            q["present"] = len(present & counted)
            share = q.pop("share", None)
            if share and len(share) == 2 and int(share[1]) > 0:
                # an excused member checked in here, not yet acknowledged: counted too
                q["expected"] = len(counted - excused) + len(present & counted & excused)
                q["required"] = q["expected"] * int(share[0]) // int(share[1]) + 1 if q["expected"] else 1
            q["met"] = q.get("rule") == "none" or (int(q.get("expected") or 0) > 0
                                                   and q["present"] >= int(q.get("required") or 0))
        return {"source": source, "present": len(present), "expected": expected, "on_leave": len(leave),
                "absent": max(0, expected - len(present) - len(leave)), "quorum": q}

    def _wire(self, member_id: str) -> str:
        member = self.roster.get(member_id)
        return str(member.hub_id) if member is not None else member_id

    # -- enrolment -------------------------------------------------------------
    async def enrol_finger(self, member_id: str) -> int:
        """Enrol one finger of a roster member; returns the slot used."""
        member = self.roster.get(member_id)
        if member is None:
            raise ReaderUnavailable("this member is not on the roster: refresh the roster")
        if self.reader is None or self.reader_status is not ReaderStatus.READY:
            raise ReaderUnavailable("the fingerprint reader is not ready: check its cable")
        if self._enrol_lock.locked():
            raise ReaderUnavailable("another enrolment is running: wait for it to finish", "enrol_busy")
        async with self._enrol_lock:
            capacity = getattr(self.reader, "capacity", 0) or 1000
            try:
                slot = self.slots.free_slot(capacity)
            except ValueError:
                self._say(Prompt.LIBRARY_FULL, member.name)
                raise ReaderUnavailable(
                    f"the fingerprint module is full ({capacity} fingers): ask the county to delete "
                    "the fingers of members who left, then restore the fingerprints here", "library_full"
                ) from None
            self._say(Prompt.ENROL_PRESS, member.name)

            def prompt(step: str) -> None:
                self._say(_ENROL_PROMPT.get(step, Prompt.ENROL_PRESS), member.name)

            try:
                template = await asyncio.wait_for(
                    self.reader.enroll(slot, prompt), self.enrol_timeout_s
                )
            except Exception as exc:
                log.warning("enrolment of %s failed: %r", member_id, exc)
                if getattr(exc, "code", None) == LIBRARY_FULL_CODE:
                    self._say(Prompt.LIBRARY_FULL, member.name)
                    raise ReaderUnavailable(
                        "the fingerprint module says its library is full: ask the county to "
                        "delete the fingers of members who left, then restore the fingerprints here",
                        "library_full") from exc
                self._say(Prompt.ENROL_FAILED, member.name)
                why = str(exc) if hasattr(exc, "prompt_zh") else ""
                raise ReaderUnavailable(
                    f"enrolment failed: {why or 'press the same finger flat and try again'}"
                ) from exc
            await self.slots.assign(slot, member_id, template)
            self._say(Prompt.ENROL_DONE, member.name)
            return slot

    async def restore_fingerprints(self) -> dict[str, int]:
        """Admin request: rewrite the module from the hub's backup (needs the
        hub). It finishes, fails with a reason, or is cancelled
        (`cancel_restore`); it never leaves enrolment locked."""
        if self.fingerprints is None:
            raise ReaderUnavailable("fingerprint backup is not set up on this agent")
        if self._restore_task is not None and not self._restore_task.done():
            raise ReaderUnavailable("a restore is already running: wait for it or cancel it")
        self._say(Prompt.RESTORING)
        task = self._restore_task = asyncio.ensure_future(self.fingerprints.restore())
        try:
            report = await asyncio.shield(task)
        except asyncio.CancelledError:
            self._say(Prompt.RESTORE_FAILED)
            me = asyncio.current_task()
            if task.cancelled() and not (me is not None and me.cancelling()):  # cancel_restore()
                done = self.fingerprints.progress or (0, 0)
                raise ReaderUnavailable(
                    f"the restore was cancelled after {done[0]} of {done[1]} fingerprints; "
                    "press 恢复指纹 to run it again"
                ) from None
            task.cancel()  # the admin's request went away: stop the restore too
            raise
        except Exception:
            self._say(Prompt.RESTORE_FAILED)
            raise
        finally:
            self.changes.notify()
        self._say(Prompt.RESTORE_DONE)
        return {"written": report.written, "removed": report.removed,
                "from_backup": report.from_backup, "from_queue": report.from_queue}

    def cancel_restore(self) -> bool:
        task = self._restore_task
        if task is None or task.done():
            return False
        task.cancel()
        return True

    # -- the kiosk's view -----------------------------------------------------
    async def snapshot(self) -> dict[str, Any]:
        meeting = self.desk.current
        prompt, prompt_name = self.prompt()
        rejected = await self.outbox.rejected(limit=5)
        uplink = dict(self.uplink_status())
        uplink["pending"] = await self.outbox.count_pending()
        uplink["online"] = uplink.get("state") == "online"
        last = self.last
        if last is not None and (meeting is None or last.member_id not in self.desk.checkins):
            last = None
        members = self.roster.members()
        return {
            "meeting": None if meeting is None else {
                "id": meeting.id,
                "type": meeting.meeting_type,
                "type_zh": MEETING_TYPES.get(meeting.meeting_type, ("", ""))[0],
                "type_en": MEETING_TYPES.get(meeting.meeting_type, ("", ""))[1],
                "topic": meeting.topic,
                "started_at": meeting.started_at,
                "scheduled_at": meeting.scheduled_at,
            },
            "attendance": self.attendance(),
            "schedule": [
                {"id": m.get("id"), "type": m.get("meeting_type"), "topic": m.get("topic"),
                 "scheduled_start": m.get("scheduled_start")}
                for m in self.desk.schedule if meeting is None or m.get("id") != meeting.id
            ],
            "prompt": {
                "code": prompt.value,
                "name": prompt_name,
                "resting": self.resting_prompt().value,
                "until": None if prompt is self.resting_prompt() or prompt in _STICKY
                else self._prompt_at + self.prompt_hold_s,
            },
            "last_checkin": None if last is None else {
                "name": last.name, "at": last.at, "method": last.method, "late": last.late,
            },
            "checked_in": len(self.desk.checkins),
            "roster_total": len(members),
            "roster_expected": sum(1 for m in members if not m.excused),
            "uplink": uplink,
            "reader": {"status": self.reader_status.value, "message": self.reader_message},
            "rejected": [
                {"id": r.id, "type": r.type, "code": r.error_code, "detail": r.error_detail,
                 "name": self._member_name(r.fields.get("member_id"))}
                for r in rejected
            ],
            "enrolling": self._enrol_lock.locked(),
            "fingerprints": self._fingerprint_status(),
            "unstored": self.unstored[-5:],
            "server_time": self.clock(),
            "version": self.changes.version,
        }

    def _fingerprint_status(self) -> dict[str, Any] | None:
        fp = self.fingerprints
        if fp is None:
            return None
        progress = fp.progress if fp.state.value == "restoring" else None
        return {"state": fp.state.value, "progress": list(progress) if progress else None,
                "error": fp.last_error}

    def _member_name(self, member_id: object) -> str | None:
        member = self.roster.get(str(member_id)) if member_id is not None else None
        return member.name if member else None

    def members_for_admin(self) -> list[dict[str, Any]]:
        return [
            {"id": m.id, "member_no": m.member_no, "name": m.name, "status": m.status,
             "excused": m.excused, "checked_in": m.id in self.desk.checkins,
             "on_leave": m.id in self.desk.leaves,
             "slots": self.slots.slots_of(m.id)}
            for m in self.roster.members()
        ]
