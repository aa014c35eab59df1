"""Kiosk prompts for reader faults: repeated failed reads ask for staff, a
garbled read asks to press again, a full library refuses enrolment clearly,
a member dropped from the roster is 'not a member of this branch'."""

from __future__ import annotations

from dataclasses import dataclass

from devices.agent.hall import Prompt
from tests.devices.kiosk.conftest import FingerMatched, Kiosk, NotRecognised, PoorImage


@dataclass(frozen=True)
class ReadFailed:
    message: str = "corrupted reply"


async def test_failed_reads_then_ask_staff(kiosk: Kiosk) -> None:
    hall = kiosk.hall
    await hall.desk.start_meeting("theme_day", "主题党日")
    await hall.handle_reader_event(ReadFailed())
    assert hall.prompt()[0] is Prompt.READ_FAILED
    await hall.handle_reader_event(PoorImage())
    assert hall.prompt()[0] is Prompt.POOR_IMAGE
    await hall.handle_reader_event(NotRecognised())
    assert hall.prompt()[0] is Prompt.ASK_STAFF
    await hall.handle_reader_event(PoorImage())  # the count starts again
    assert hall.prompt()[0] is Prompt.POOR_IMAGE


async def test_full_library_refuses_enrolment(kiosk: Kiosk) -> None:
    kiosk.reader.capacity = 1
    await kiosk.login()
    r = await kiosk.client.post("/api/admin/enrol", json={"member_id": "11"})
    assert r.status_code == 201, r.text
    r = await kiosk.client.post("/api/admin/enrol", json={"member_id": "12"})
    assert r.status_code == 409
    assert "full" in r.json()["error"] and "delete" in r.json()["error"]
    assert kiosk.hall.prompt()[0] is Prompt.LIBRARY_FULL


async def test_member_removed_from_roster_is_not_a_member(kiosk: Kiosk) -> None:
    hall = kiosk.hall
    await hall.slots.assign(4, "12")
    await hall.desk.start_meeting("theme_day", "主题党日")
    from tests.devices.kiosk.conftest import roster

    smaller = roster()
    await hall.roster.replace(type(smaller)(version="r2", members=tuple(m for m in smaller.members if m.id != "12")))
    await hall.handle_reader_event(FingerMatched(4))
    assert hall.prompt()[0] is Prompt.NOT_A_MEMBER
    assert hall.desk.checkins == {}


async def test_a_matched_finger_that_cannot_be_stored_is_sent_to_staff(kiosk: Kiosk) -> None:
    """Disk full past the reserve: the member is told to see staff, the
    secretary sees who on the kiosk, and nothing claims a check-in."""
    from devices.agent.errors import StoreError

    hall = kiosk.hall
    await hall.slots.assign(4, "12")
    await hall.desk.start_meeting("theme_day", "主题党日")

    async def full(*args: object, **kwargs: object) -> None:
        raise StoreError("agent database error: database or disk is full")

    hall.outbox.put = full  # type: ignore[method-assign]
    await hall.handle_reader_event(FingerMatched(4))
    prompt, name = hall.prompt()
    assert prompt is Prompt.STORE_FAILED and name
    assert hall.desk.checkins == {}
    snap = await hall.snapshot()
    assert snap["prompt"]["code"] == "store_failed"
    assert [u["name"] for u in snap["unstored"]] == [name]
    await kiosk.login()
    r = await kiosk.client.post("/api/admin/unstored/dismiss", json={})
    assert r.status_code == 200
    assert (await hall.snapshot())["unstored"] == []
