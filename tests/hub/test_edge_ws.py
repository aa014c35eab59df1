"""`WS /ws/edge` and `WS /ws/wall`: exactly-once check-ins, refusals with
reasons, tokens, and what each operator's wall receives."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from starlette.testclient import WebSocketDenialResponse

from hub.attendance.models import CheckIn
from tests.hub.conftest import County


def msg(type_: str, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "id": str(uuid.uuid4()), "ts": time.time(), **fields}


def edge(client: TestClient, token: str):  # type: ignore[no-untyped-def]
    return client.websocket_connect("/ws/edge", headers={"Authorization": f"Bearer {token}"})


def recv_until(ws: Any, type_: str, message_id: str | None = None) -> dict[str, Any]:
    for _ in range(50):
        m = ws.receive_json()
        if m["type"] == type_ and (message_id is None or m.get("id") == message_id):
            return m
    raise AssertionError(f"no {type_} message")


def open_meeting(ws: Any) -> str:
    meeting_id = str(uuid.uuid4())
    start = msg("meeting.start", meeting_id=meeting_id, meeting_type="theme_day", topic="主题党日", started_at=time.time())
    ws.send_json(start)
    ack = recv_until(ws, "ack", start["id"])
    assert ack["ok"], ack
    return meeting_id


def count_checkins(client: TestClient) -> int:
    with client.app.state.ctx.session_factory() as s:
        return int(s.scalar(select(func.count()).select_from(CheckIn)) or 0)


def test_hello_gets_welcome_and_roster(client: TestClient, county: County) -> None:
    with edge(client, county.tokens["东城一村"]) as ws:
        ws.send_json(msg("hello", agent_version="test", roster_version=None))
        welcome = recv_until(ws, "welcome")
        assert welcome["branch_id"] == county.branches["东城一村"] and welcome["branch_name"] == "东城一村"
        roster = recv_until(ws, "roster")
        assert {m["name"] for m in roster["members"]} == {"张三", "李四", "王五", "赵六"}


def test_resent_checkin_is_stored_once_and_acked_again(client: TestClient, county: County) -> None:
    token = county.tokens["东城一村"]
    with edge(client, token) as ws:
        meeting_id = open_meeting(ws)
        checkin = msg("checkin", meeting_id=meeting_id, member_id=county.members["张三"], method="fingerprint", checked_in_at=time.time())
        ws.send_json(checkin)
        first = recv_until(ws, "ack", checkin["id"])
    assert first["ok"] and first["duplicate"] is False
    # The link dropped before the edge saw the ack: it reconnects and resends.
    with edge(client, token) as ws:
        ws.send_json(checkin)
        second = recv_until(ws, "ack", checkin["id"])
        ws.send_json(checkin)
        third = recv_until(ws, "ack", checkin["id"])
    assert second["duplicate"] and third["duplicate"]
    assert second["result"] == first["result"] == third["result"]
    assert count_checkins(client) == 1


def test_refusals_carry_a_reason_for_the_kiosk(client: TestClient, county: County) -> None:
    with edge(client, county.tokens["东城一村"]) as ws:
        meeting_id = open_meeting(ws)
        cases = {
            "not_in_branch": dict(member_id=county.members["孙七"], method="fingerprint"),
            "unknown_member": dict(member_id=999_999, method="fingerprint"),
            "reason_required": dict(member_id=county.members["李四"], method="staff"),
        }
        for code, fields in cases.items():
            m = msg("checkin", meeting_id=meeting_id, checked_in_at=time.time(), **fields)
            ws.send_json(m)
            ack = recv_until(ws, "ack", m["id"])
            assert not ack["ok"] and ack["error"]["code"] == code, ack
            assert ack["error"]["detail"]
        m = msg("checkin", meeting_id=str(uuid.uuid4()), member_id=county.members["张三"], method="fingerprint", checked_in_at=time.time())
        ws.send_json(m)
        assert recv_until(ws, "ack", m["id"])["error"]["code"] == "unknown_meeting"
        ok = msg("checkin", meeting_id=meeting_id, member_id=county.members["张三"], method="fingerprint", checked_in_at=time.time())
        ws.send_json(ok)
        assert recv_until(ws, "ack", ok["id"])["ok"]
        dup = msg("checkin", meeting_id=meeting_id, member_id=county.members["张三"], method="fingerprint", checked_in_at=time.time())
        ws.send_json(dup)
        assert recv_until(ws, "ack", dup["id"])["error"]["code"] == "already_checked_in"
        end = msg("meeting.end", meeting_id=meeting_id, ended_at=time.time())
        ws.send_json(end)
        assert recv_until(ws, "ack", end["id"])["ok"]
        late = msg("checkin", meeting_id=meeting_id, member_id=county.members["李四"], method="fingerprint", checked_in_at=time.time())
        ws.send_json(late)
        assert recv_until(ws, "ack", late["id"])["error"]["code"] == "meeting_not_open"
        bad = {"type": "checkin", "id": "bad-1", "ts": time.time(), "meeting_id": meeting_id}
        ws.send_json(bad)
        ack = recv_until(ws, "ack", "bad-1")
        assert ack["error"]["code"] == "bad_message" and "member_id" in ack["error"]["detail"]
    assert count_checkins(client) == 1


def test_other_branch_cannot_use_a_meeting(client: TestClient, county: County) -> None:
    with edge(client, county.tokens["东城一村"]) as ws:
        meeting_id = open_meeting(ws)
    with edge(client, county.tokens["西山一村"]) as ws:
        m = msg("checkin", meeting_id=meeting_id, member_id=county.members["孙七"], method="fingerprint", checked_in_at=time.time())
        ws.send_json(m)
        assert recv_until(ws, "ack", m["id"])["error"]["code"] == "not_in_branch"


@pytest.mark.parametrize("token", ["", "wrong-token"])
def test_bad_device_token_is_refused_with_401(client: TestClient, token: str) -> None:
    with pytest.raises(WebSocketDenialResponse) as exc:
        with client.websocket_connect("/ws/edge", headers={"Authorization": f"Bearer {token}"}):
            pass
    assert exc.value.status_code == 401


def test_revoked_token_is_refused_and_nothing_written(client: TestClient, county: County) -> None:
    admin = county.admin
    branch = county.branches["东城一村"]
    device_id = client.get(f"/api/v1/branches/{branch}/devices", headers=admin).json()[0]["id"]
    client.post(f"/api/v1/devices/{device_id}/revoke", headers=admin)
    with pytest.raises(WebSocketDenialResponse) as exc:
        with edge(client, county.tokens["东城一村"]):
            pass
    assert exc.value.status_code == 401
    assert count_checkins(client) == 0


def test_wall_gets_snapshot_then_checkin_deltas_within_scope(client: TestClient, county: County) -> None:
    east, west = county.operators["东城镇"], county.operators["西山乡"]
    with client.websocket_connect("/ws/wall", headers=east) as east_wall, client.websocket_connect("/ws/wall", headers=west) as west_wall:
        snap = east_wall.receive_json()
        assert snap["type"] == "snapshot"
        assert {t["name"] for t in snap["tiles"]} == {"东城一村", "东城二村"}
        assert {t["name"] for t in west_wall.receive_json()["tiles"]} == {"西山一村", "西山二村"}
        with edge(client, county.tokens["东城一村"]) as ws:
            meeting_id = open_meeting(ws)
            c = msg("checkin", meeting_id=meeting_id, member_id=county.members["张三"], method="fingerprint", checked_in_at=time.time())
            ws.send_json(c)
            recv_until(ws, "ack", c["id"])
        seen: list[dict[str, Any]] = []
        def tile_counts_one() -> bool:
            return any(m["type"] == "tile" and m["tile"]["checked_in"] == 1 for m in seen)

        while not (any(m["type"] == "checkin" for m in seen) and tile_counts_one()):
            m = east_wall.receive_json()
            seen.extend(m["messages"] if m["type"] == "batch" else [m])
        checkin = next(m for m in seen if m["type"] == "checkin")
        assert checkin["name"] == "张三" and checkin["meeting_id"] == meeting_id
        tile = next(m for m in seen if m["type"] == "tile" and m["tile"]["checked_in"] == 1)["tile"]
        assert tile["meeting"]["type_name"] == "主题党日" and tile["state"] == "stalled"
        # The west wall got nothing about the east branch: the next thing it
        # sees is its own branch going online.
        with edge(client, county.tokens["西山一村"]):
            pass
        m = west_wall.receive_json()
        msgs = m["messages"] if m["type"] == "batch" else [m]
        assert all(x.get("tile", {}).get("name", "西山一村").startswith("西山") for x in msgs)
        assert not any(x["type"] == "checkin" for x in msgs)


def test_wall_socket_needs_a_session(client: TestClient) -> None:
    with pytest.raises(WebSocketDenialResponse) as exc:
        with client.websocket_connect("/ws/wall"):
            pass
    assert exc.value.status_code == 401
