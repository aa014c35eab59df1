"""The uplink against the fake hub on 127.0.0.1: exactly once across drops,
offline check-ins delivered later, AUTH_FAILED on 401, roster and commands."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from devices.agent.meeting import CheckInOutcome
from devices.agent.protocol import Thumbnail
from devices.agent.uplink import Uplink, UplinkConfig, UplinkState
from tests.devices.agent.conftest import OpenParts, Parts, eventually, fast_backoff
from tests.devices.agent.fakehub import ROSTER, FakeHub


def make_uplink(parts: Parts, url: str, tmp_path: Path, token: str = "good-token",
                **kw: object) -> Uplink:
    config = UplinkConfig(ws_url=url, enrol_url="http://127.0.0.1:9/api/v1/devices/enrol",
                          token_path=tmp_path / "device-token", token=token,
                          heartbeat_s=1.0, connect_timeout_s=5.0, auth_retry_s=60.0,
                          backoff=fast_backoff())
    return Uplink(config, parts.outbox, parts.roster, **kw)  # type: ignore[arg-type]


@asynccontextmanager
async def running(uplink: Uplink) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(uplink.run(stop))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def test_hello_welcome_and_roster_is_cached(open_parts: OpenParts, hub: FakeHub,
                                                  tmp_path: Path) -> None:
    parts = await open_parts()
    uplink = make_uplink(parts, hub.url, tmp_path)
    async with running(uplink):
        await uplink.wait_state(UplinkState.ONLINE)
        await eventually(lambda: parts.roster.version == "r1")
    assert uplink.state is UplinkState.STOPPED
    assert uplink.welcome is not None and uplink.welcome.branch_name == "东村党支部"
    assert hub.hellos[0]["roster_version"] is None
    reopened = await open_parts()
    assert [m.name for m in reopened.roster.members()] == ["张三", "李四", "王五"]
    assert reopened.roster.version == "r1"


async def test_resent_after_drop_mid_stream_exactly_once(open_parts: OpenParts, hub: FakeHub,
                                                         tmp_path: Path) -> None:
    parts = await open_parts()
    await parts.roster.replace(_roster())
    meeting = await parts.desk.start_meeting("theme_day", "学习党章")
    for member in ("m1", "m2"):
        result = await parts.desk.check_in(member)
        assert result.outcome is CheckInOutcome.ACCEPTED
    for n in range(5):
        await parts.desk.record_headcount(n)
    # the hub applies the 2nd and the 5th message, then the link dies before the ack
    hub.drop_before_ack = {2, 5}
    uplink = make_uplink(parts, hub.url, tmp_path)
    async with running(uplink):
        await eventually(lambda: hub.connections >= 3)
        await uplink.wait_state(UplinkState.ONLINE)
        await _until_outbox_empty(parts)
    assert await parts.outbox.count_pending() == 0
    assert await parts.outbox.rejected() == []
    applied_ids = [m["id"] for m in hub.applied]
    assert len(applied_ids) == len(set(applied_ids)) == 8  # start + 2 check-ins + 5 counts
    assert [m["type"] for m in hub.applied][:3] == ["meeting.start", "checkin", "checkin"]
    assert hub.applied_of("checkin")[0]["meeting_id"] == meeting.id
    # the dropped ones came again and were answered as duplicates
    resent = [m for m in hub.received if m["type"] != "heartbeat" and m["type"] != "hello"]
    assert len(resent) > 8


async def test_offline_check_ins_delivered_when_link_returns(open_parts: OpenParts,
                                                             tmp_path: Path) -> None:
    hub = FakeHub()
    await hub.start()
    port = hub.port
    await hub.stop()  # the county is unreachable
    parts = await open_parts()
    await parts.roster.replace(_roster())
    uplink = make_uplink(parts, f"ws://127.0.0.1:{port}/ws/edge", tmp_path,
                         on_ack=parts.desk.apply_ack)
    async with running(uplink):
        await eventually(lambda: uplink.config.backoff.attempts >= 2)
        assert uplink.state is UplinkState.OFFLINE
        await parts.desk.start_meeting("general_meeting", "换届准备")
        assert (await parts.desk.check_in("m1")).accepted
        assert (await parts.desk.check_in("m2", method="staff", reason="手指受伤")).accepted
        assert await parts.outbox.count_pending() == 3
        await hub.start(port)  # the line is back
        try:
            await uplink.wait_state(UplinkState.ONLINE, timeout=15)
            await _until_outbox_empty(parts)
            await eventually(lambda: all(c.hub_state == "accepted"
                                         for c in parts.desk.checkins.values()))
        finally:
            for ws in list(hub.live):
                ws.transport.abort()
    await hub.stop()
    checkins = hub.applied_of("checkin")
    assert [c["member_id"] for c in checkins] == ["m1", "m2"]
    assert checkins[1]["method"] == "staff" and checkins[1]["reason"] == "手指受伤"
    assert [c.hub_state for c in parts.desk.checkins.values()] == ["accepted", "accepted"]


async def test_hub_refusal_is_final_and_kept_for_the_kiosk(open_parts: OpenParts,
                                                           hub: FakeHub, tmp_path: Path) -> None:
    parts = await open_parts()
    await parts.roster.replace(_roster())
    await parts.desk.start_meeting("committee", "月度工作")
    hub.roster = {**ROSTER, "version": "r1",
                  "members": [m for m in ROSTER["members"] if m["id"] != "m2"]}
    await parts.desk.check_in("m2")  # removed on the hub while we were offline
    acks: list[object] = []
    uplink = make_uplink(parts, hub.url, tmp_path, on_ack=parts.desk.apply_ack)
    uplink.on_ack = lambda outcome: acks.append(outcome) or parts.desk.apply_ack(outcome)
    async with running(uplink):
        await _until_outbox_empty(parts)
        # the ack callback runs after `acks` is appended to: wait for its effect
        await eventually(lambda: len(acks) == 2 and "m2" not in parts.desk.checkins)
    [rejected] = await parts.outbox.rejected()
    assert rejected.type == "checkin" and rejected.error_code == "not_in_branch"
    assert "m2" not in parts.desk.checkins


async def test_401_means_auth_failed(open_parts: OpenParts, hub: FakeHub,
                                     tmp_path: Path) -> None:
    parts = await open_parts()
    uplink = make_uplink(parts, hub.url, tmp_path, token="revoked")
    async with running(uplink):
        await uplink.wait_state(UplinkState.AUTH_FAILED)
        assert "401" in (uplink.last_error or "")
    assert hub.connections == 0


async def test_keyframe_command_thumbnail_and_heartbeat(open_parts: OpenParts, hub: FakeHub,
                                                        tmp_path: Path) -> None:
    parts = await open_parts()
    keyframes: list[int] = []
    uplink = make_uplink(parts, hub.url, tmp_path, on_keyframe=lambda: keyframes.append(1),
                         health=lambda: {"camera_fps": 15, "reader": "ready"})
    async with running(uplink):
        await uplink.wait_state(UplinkState.ONLINE)
        [ws] = list(hub.live)
        await ws.send(json.dumps({"type": "command", "id": "k1", "ts": 0, "name": "keyframe"}))
        await eventually(lambda: keyframes == [1])
        assert await uplink.send_thumbnail(b"\xff\xd8jpeg\xff\xd9", 123.0)
        await eventually(lambda: len(hub.thumbnails) == 1)
        await eventually(lambda: any(m["type"] == "heartbeat" for m in hub.received))
        await eventually(lambda: uplink.rtt_ms is not None)
    thumb = Thumbnail.parse(hub.thumbnails[0])
    assert thumb.jpeg == b"\xff\xd8jpeg\xff\xd9" and thumb.taken_at == 123.0
    beat = next(m for m in hub.received if m["type"] == "heartbeat")
    assert beat["health"]["camera_fps"] == 15 and "outbox_pending" in beat["health"]
    assert not await uplink.send_thumbnail(b"x", 1.0)  # offline: dropped, not queued


def _roster():  # type: ignore[no-untyped-def]
    from devices.agent.protocol import parse_hub_message

    return parse_hub_message(json.dumps({"type": "roster", "id": "r", "ts": 0, **ROSTER}))


async def _until_outbox_empty(parts: Parts) -> None:
    async def empty() -> None:
        while await parts.outbox.count_pending():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(empty(), 15)
