"""The meeting/check-in state machine's local rules (no network)."""

from __future__ import annotations

import json

import pytest

from devices.agent.errors import MeetingError
from devices.agent.meeting import CheckInOutcome, MeetingState
from devices.agent.protocol import parse_hub_message
from tests.devices.agent.conftest import OpenParts, Parts
from tests.devices.agent.fakehub import ROSTER


async def _ready(open_parts: OpenParts) -> Parts:
    parts = await open_parts()
    roster = parse_hub_message(json.dumps({"type": "roster", "id": "r", "ts": 0, **ROSTER}))
    await parts.roster.replace(roster)  # type: ignore[arg-type]
    return parts


async def test_meeting_lifecycle_is_a_state_machine(open_parts: OpenParts) -> None:
    parts = await _ready(open_parts)
    desk = parts.desk
    assert desk.state is MeetingState.IDLE
    with pytest.raises(MeetingError, match="no meeting is open"):
        await desk.end_meeting()
    info = await desk.start_meeting("party_lecture", "  党史学习  ")
    assert desk.state is MeetingState.OPEN and info.topic == "党史学习"
    with pytest.raises(MeetingError, match="already open"):
        await desk.start_meeting("party_lecture", "again")
    ended = await desk.end_meeting()
    assert ended.id == info.id and ended.ended_at is not None
    assert desk.state is MeetingState.IDLE
    types = [m.type for m in await parts.outbox.pending()]
    assert types == ["meeting.start", "meeting.end"]


async def test_bad_meeting_input_is_refused(open_parts: OpenParts) -> None:
    parts = await _ready(open_parts)
    with pytest.raises(MeetingError, match="unknown meeting type"):
        await parts.desk.start_meeting("party", "x")
    with pytest.raises(MeetingError, match="needs a topic"):
        await parts.desk.start_meeting("theme_day", " ")


async def test_local_check_in_rules(open_parts: OpenParts) -> None:
    parts = await _ready(open_parts)
    desk = parts.desk
    assert (await desk.check_in("m1")).outcome is CheckInOutcome.NO_MEETING
    await desk.start_meeting("theme_day", "主题党日")
    assert (await desk.check_in("nobody")).outcome is CheckInOutcome.NOT_A_MEMBER
    assert (await desk.check_in_slot(42)).outcome is CheckInOutcome.NOT_A_MEMBER
    await parts.slots.assign(42, "m1")
    first = await desk.check_in_slot(42)
    assert first.accepted and first.member is not None and first.member.name == "张三"
    assert first.checkin is not None and first.checkin.fp_slot == 42
    again = await desk.check_in("m1")
    assert again.outcome is CheckInOutcome.ALREADY_CHECKED_IN
    assert (await desk.check_in("m2", method="staff")).outcome is CheckInOutcome.REASON_REQUIRED
    staff = await desk.check_in("m2", method="staff", reason="老人手指磨损")
    assert staff.accepted
    checkins = [m for m in await parts.outbox.pending() if m.type == "checkin"]
    assert [c.fields["member_id"] for c in checkins] == ["m1", "m2"]
    assert checkins[0].fields["fp_slot"] == 42 and checkins[0].id == first.checkin.id
    assert checkins[1].fields["method"] == "staff"


async def test_member_removed_from_roster_is_not_a_member(open_parts: OpenParts) -> None:
    parts = await _ready(open_parts)
    await parts.slots.assign(1, "m2")
    await parts.desk.start_meeting("theme_day", "t")
    smaller = {**ROSTER, "version": "r2",
               "members": [m for m in ROSTER["members"] if m["id"] != "m2"]}
    await parts.roster.replace(
        parse_hub_message(json.dumps({"type": "roster", "id": "r", "ts": 0, **smaller}))  # type: ignore[arg-type]
    )
    assert (await parts.desk.check_in_slot(1)).outcome is CheckInOutcome.NOT_A_MEMBER


async def test_late_flag_uses_start_plus_grace(open_parts: OpenParts) -> None:
    parts = await _ready(open_parts)
    now = [1000.0]
    parts.desk.clock = lambda: now[0]
    parts.desk.late_grace_s = 600
    await parts.desk.start_meeting("theme_day", "t")
    on_time = await parts.desk.check_in("m1", at=1000.0 + 600)
    late = await parts.desk.check_in("m2", at=1000.0 + 601)
    assert on_time.checkin is not None and not on_time.checkin.late
    assert late.checkin is not None and late.checkin.late


async def test_open_meeting_and_check_ins_survive_a_restart(open_parts: OpenParts) -> None:
    parts = await _ready(open_parts)
    info = await parts.desk.start_meeting("theme_day", "t")
    await parts.desk.check_in("m1")
    await parts.store.close()
    again = await open_parts()
    assert again.desk.current is not None and again.desk.current.id == info.id
    assert (await again.desk.check_in("m1")).outcome is CheckInOutcome.ALREADY_CHECKED_IN


def _state(open_meeting: dict | None = None, ended: tuple[str, ...] = (), scheduled: tuple[dict, ...] = ()):  # type: ignore[no-untyped-def]
    return parse_hub_message(json.dumps({"type": "branch_state", "id": "s", "ts": 0, "open_meeting": open_meeting,
                                         "scheduled": list(scheduled), "attendance": None, "ended_ids": list(ended)}))


async def test_the_branch_has_one_meeting_shared_by_its_devices(open_parts: OpenParts) -> None:
    """A meeting another device opened is shown here; one ended elsewhere is
    closed here; a start here while the hub says one is open joins it; a
    meeting.start answered `joined` moves this kiosk's check-ins over."""
    from devices.agent.outbox import AckOutcome

    parts = await _ready(open_parts)
    desk = parts.desk
    hub_meeting = {"id": "m-hub-0001", "meeting_type": "theme_day", "topic": "主题党日",
                   "started_at": 1000.0, "scheduled_start": 900.0}
    await desk.apply_branch_state(_state(hub_meeting))  # type: ignore[arg-type]
    assert desk.current is not None and desk.current.id == "m-hub-0001" and desk.current.scheduled_at == 900.0
    assert await parts.outbox.pending() == []  # no meeting.start: it is open already
    await desk.apply_branch_state(_state(None, ended=("m-hub-0001",)))  # type: ignore[arg-type]
    assert desk.current is None
    # a start while the hub says a meeting is open joins that one
    await desk.apply_branch_state(_state({**hub_meeting, "id": "m-hub-0002"}))  # type: ignore[arg-type]
    await desk.end_meeting()
    assert desk.current is None
    await desk.apply_branch_state(_state({**hub_meeting, "id": "m-hub-0002"}))  # stale: ended here, not re-adopted
    assert desk.current is None
    # offline start, then the hub answers that the branch had another meeting open
    own = await desk.start_meeting("committee", "自己开的会")
    member = desk.roster.members()[0]
    assert (await desk.check_in(member.id, method="staff", reason="手指受伤")).accepted
    start = next(m for m in await parts.outbox.pending() if m.type == "meeting.start" and m.fields["meeting_id"] == own.id)
    await desk.apply_ack(AckOutcome(start, ok=True, result={"meeting_id": "m-hub-0003", "joined": True}))
    assert desk.current is not None and desk.current.id == "m-hub-0003"
    assert member.id in desk.checkins  # still counted here, under the branch's meeting
