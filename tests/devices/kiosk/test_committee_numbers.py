"""A committee meeting (支委会) on the hall's kiosk: 应到 is the committee,
offline and with the hub's numbers, and the kiosk, the wall tile and the
hub's summary agree (hub/attendance/summary.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from devices.agent.protocol import Roster, parse_hub_message
from hub.attendance.summary import summarise
from hub.config import Settings
from hub.meetings.quorum import RosterEntry
from hub.wall.state import Tile
from tests.devices.kiosk.conftest import Kiosk

MEMBERS = [  # id, name, excused, committee
    (11, "张三", False, True), (12, "李四", False, False), (13, "王五", True, False),
    (14, "赵六", False, True), (15, "钱七", True, True), (16, "孙八", False, True),
]


def roster() -> Roster:
    message = parse_hub_message(json.dumps({"type": "roster", "id": "r", "ts": 0, "version": "c1", "members": [
        {"id": i, "member_no": f"{i:03d}", "name": n, "status": "full", "excused": e, "committee": c}
        for i, n, e, c in MEMBERS]}))
    assert isinstance(message, Roster)
    return message


ENTRIES = [RosterEntry(i, "full", e, c) for i, _, e, c in MEMBERS]


def numbers(att: dict) -> tuple:  # type: ignore[type-arg]
    q = att.get("quorum") or {}
    return att["present"], att["expected"], att["on_leave"], att["absent"], q.get("present"), q.get("required"), q.get("met")


async def test_committee_meeting_expects_the_committee_offline(kiosk: Kiosk) -> None:
    await kiosk.hall.roster.replace(roster())
    await kiosk.hall.desk.start_meeting("committee", "月度支委会")
    # committee: 张三 赵六 孙八, and 钱七 excused: 应到 3
    assert numbers(kiosk.hall.attendance())[:4] == (0, 3, 0, 3)
    await kiosk.hall.desk.check_in("12", method="staff", reason="列席")  # 李四 sits in: not in the numbers
    await kiosk.hall.desk.check_in("11", method="staff", reason="手指受伤")
    await kiosk.hall.desk.file_leave("14", "外出")
    assert numbers(kiosk.hall.attendance())[:4] == (1, 3, 1, 1)
    page = (await kiosk.client.get("/")).text
    assert '<b id="count-n">1</b> / <span id="count-total">3</span>' in page


async def test_committee_meeting_same_numbers_on_kiosk_wall_and_hub(kiosk: Kiosk, tmp_path: Path) -> None:
    await kiosk.hall.roster.replace(roster())
    info = await kiosk.hall.desk.start_meeting("committee", "月度支委会")
    settings = Settings(data_dir=tmp_path, media={"enabled": False})  # type: ignore[arg-type]
    rule = settings.meeting_type("committee").quorum  # type: ignore[union-attr]

    def tile(present: set[int], leave: set[int]) -> tuple:  # type: ignore[type-arg]
        t = Tile(1, "东风村党支部", "城关镇", "/1/2/", meeting={"id": info.id, "type": "committee"},
                 present=present, leave=leave, roster=list(ENTRIES))
        j = t.to_json(settings, datetime.now(UTC))
        q = j["quorum"]
        return j["checked_in"], j["expected"], j["on_leave"], q["present"], q["required"], q["met"]

    # the hub has 张三 and 李四 (sitting in) and 赵六's leave
    hub = summarise(info.id, rule, ENTRIES, present_ids={11, 12}, leave_ids={14})
    kiosk.hall.desk.hub_attendance = hub.to_json()
    kiosk.hall.desk.checkins = {}
    got = numbers(kiosk.hall.attendance())
    assert got == (1, 3, 1, 1, 1, 2, False)
    assert (got[0], got[1], got[2], *got[4:]) == tile({11, 12}, {14})

    # 钱七 (excused) and 孙八 check in here, not yet acknowledged by the hub
    await kiosk.hall.desk.check_in("15", method="staff", reason="手指受伤")
    await kiosk.hall.desk.check_in("16", method="staff", reason="手指受伤")
    after = summarise(info.id, rule, ENTRIES, present_ids={11, 12, 15, 16}, leave_ids={14})
    got = numbers(kiosk.hall.attendance())
    q = after.quorum
    assert got == (after.present, after.expected, after.on_leave, after.absent, q.present, q.required, q.met)
    assert got == (3, 4, 1, 0, 3, 3, True)
    assert (got[0], got[1], got[2], *got[4:]) == tile({11, 12, 15, 16}, {14})
