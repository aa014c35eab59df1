"""One branch, one open meeting, one set of numbers: the attendance summary
(hub/attendance/summary.py), a second device joining the open meeting over
`/ws/edge`, leave from the edge, and `branch_state` pushed to the devices."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from hub.attendance.summary import summarise
from hub.meetings.quorum import RosterEntry
from tests.hub.conftest import County, enrol_device
from tests.hub.test_edge_ws import edge, msg, open_meeting, recv_until

ROSTER = [RosterEntry(1, "full", False, True), RosterEntry(2, "full", False, False),
          RosterEntry(3, "probationary", False, False), RosterEntry(4, "full", True, False),
          RosterEntry(5, "full", False, False)]


def test_summary_counts_present_expected_leave_and_quorum() -> None:
    s = summarise("m", "half_voting", ROSTER, present_ids={1, 3}, leave_ids={5, 1})
    # 应到: all but the excused 4; 实到: 1 and 3; 请假: 5 (1 came anyway); 缺席: 2
    assert (s.expected, s.present, s.on_leave, s.absent) == (4, 2, 1, 1)
    # quorum of full members not excused (1, 2, 5): more than half is 2; only 1 counts as present
    assert (s.quorum.expected, s.quorum.present, s.quorum.required, s.quorum.met) == (3, 1, 2, False)
    assert s.counted_ids == (1, 2, 4, 5)
    came = summarise("m", "half_voting", ROSTER, present_ids={1, 3, 4, 5}, leave_ids=set())
    assert (came.expected, came.present) == (5, 4)  # the excused member who came counts
    assert came.quorum.met
    none = summarise("m", "none", ROSTER, present_ids=set(), leave_ids={99})
    assert none.on_leave == 0 and none.quorum.met


def test_committee_meeting_counts_only_the_committee() -> None:
    """支委会: 应到, 实到, 请假 and the quorum all have the committee as their base
    (DOMAIN.md), not the whole branch."""
    roster = ROSTER + [RosterEntry(6, "full", False, True), RosterEntry(7, "full", False, True),
                       RosterEntry(8, "full", True, True)]  # committee: 1, 6, 7 and 8 (excused)
    s = summarise("m", "half_committee", roster, present_ids={1, 2, 3}, leave_ids={5, 7})
    # 2 and 3 sit in (列席): on the list, not in the numbers; 5 is not called, so not on leave
    assert (s.expected, s.present, s.on_leave, s.absent) == (3, 1, 1, 1)
    assert (s.quorum.expected, s.quorum.present, s.quorum.required, s.quorum.met) == (3, 1, 2, False)
    assert s.present_ids == (1, 2, 3) and s.called_ids == (1, 6, 7, 8) and s.excused_ids == (8,)
    came = summarise("m", "half_committee", roster, present_ids={1, 6, 8}, leave_ids=set())
    assert (came.expected, came.present, came.quorum.expected, came.quorum.required, came.quorum.met) == (4, 3, 4, 3, True)


def test_second_device_joins_the_open_meeting(client: TestClient, county: County) -> None:
    branch = county.branches["东城一村"]
    second = enrol_device(client, county.admin, branch)
    with edge(client, county.tokens["东城一村"]) as first_ws:
        meeting_id = open_meeting(first_ws)
    with edge(client, second) as ws:
        own = str(uuid.uuid4())
        start = msg("meeting.start", meeting_id=own, meeting_type="committee", topic="另一台开的会", started_at=time.time())
        ws.send_json(start)
        ack = recv_until(ws, "ack", start["id"])
        assert ack["ok"] and ack["result"] == {"meeting_id": meeting_id, "joined": True}
        # sent under its own id before it knew: lands in the branch's one meeting
        checkin = msg("checkin", meeting_id=own, member_id=county.members["李四"], method="fingerprint",
                      checked_in_at=time.time())
        ws.send_json(checkin)
        assert recv_until(ws, "ack", checkin["id"])["ok"]
        leave = msg("leave", meeting_id=own, member_id=county.members["张三"], reason="外出务工")
        ws.send_json(leave)
        assert recv_until(ws, "ack", leave["id"])["ok"]
    detail = client.get(f"/api/v1/meetings/{meeting_id}", headers=county.admin).json()
    assert detail["status"] == "live"  # not ended by the second device
    rows = client.get(f"/api/v1/meetings/{meeting_id}/attendance", headers=county.admin).json()
    assert [r["member_id"] for r in rows] == [county.members["李四"]]
    leaves = client.get(f"/api/v1/meetings/{meeting_id}/leave-requests", headers=county.admin).json()
    assert [lv["member_id"] for lv in leaves] == [county.members["张三"]]
    mine = client.get(f"/api/v1/meetings/{own}", headers=county.admin).json()
    assert mine["status"] == "merged"
    # an operator cannot open a second meeting either
    sched = client.post(f"/api/v1/branches/{branch}/meetings", headers=county.admin, json={
        "meeting_type": "theme_day", "topic": "主题党日", "scheduled_start": datetime.now(UTC).isoformat()}).json()
    r = client.post(f"/api/v1/meetings/{sched['id']}/start", headers=county.admin)
    assert r.status_code == 409 and r.json()["code"] == "meeting_already_open"


def test_branch_state_after_hello_and_on_changes(client: TestClient, county: County) -> None:
    branch = county.branches["东城一村"]
    start = datetime.now(UTC) - timedelta(minutes=30)
    sched = client.post(f"/api/v1/branches/{branch}/meetings", headers=county.admin, json={
        "meeting_type": "general_meeting", "topic": "党员大会", "scheduled_start": start.isoformat()}).json()
    with edge(client, county.tokens["东城一村"]) as ws:
        ws.send_json(msg("hello", agent_version="test", roster_version=None))
        state = recv_until(ws, "branch_state")
        assert state["open_meeting"] is None and state["attendance"] is None
        assert [m["id"] for m in state["scheduled"]] == [sched["id"]]
        assert abs(state["scheduled"][0]["scheduled_start"] - start.timestamp()) < 1
        # the kiosk starts it from the schedule: same id; late counts from the scheduled start
        begin = msg("meeting.start", meeting_id=sched["id"], meeting_type="general_meeting", topic="党员大会",
                    started_at=time.time())
        ws.send_json(begin)
        assert recv_until(ws, "ack", begin["id"])["result"] == {"meeting_id": sched["id"]}
        checkin = msg("checkin", meeting_id=sched["id"], member_id=county.members["张三"], method="fingerprint",
                      checked_in_at=time.time())
        ws.send_json(checkin)
        ack = recv_until(ws, "ack", checkin["id"])
        assert ack["result"]["late"] is True
        for _ in range(20):
            state = recv_until(ws, "branch_state")
            if state["attendance"] and state["attendance"]["present"] == 1:
                break
        att = state["attendance"]
        assert state["open_meeting"]["id"] == sched["id"] and state["scheduled"] == []
        assert att["present_ids"] == [county.members["张三"]]
        # 东城一村: 张三 李四 (full), 王五 (probationary), 赵六 (excused): 应到 3, quorum of 2 full needs 2
        assert (att["expected"], att["present"], att["quorum"]["required"], att["quorum"]["met"]) == (3, 1, 2, False)
    wall = client.app.state.ctx.wall
    assert wall is not None
    tile = wall.tiles[branch].to_json(client.app.state.ctx.settings, datetime.now(UTC))  # the same numbers
    assert (tile["checked_in"], tile["expected"], tile["quorum"]["required"], tile["quorum"]["met"]) == (1, 3, 2, False)
