"""The wall's tiles: states and alerts derived from events."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest.mock import ANY

from hub.app import init_database
from hub.config import Settings
from hub.events import (
    AlertRaised,
    CheckInRecorded,
    DeviceHealthReported,
    HeadcountReported,
    MeetingStarted,
    OrgUnitChanged,
    StreamStateChanged,
)
from hub.organisations import service as orgs
from hub.organisations.models import OrgUnit
from hub.wall.state import WallState


async def test_tile_states_and_alerts(tmp_path: Path) -> None:
    ctx = init_database(Settings(data_dir=tmp_path, media={"enabled": False}))  # type: ignore[arg-type]
    with ctx.session_factory() as s:
        root = orgs.create_unit(s, name="县", kind="county", parent_id=None)
        town = orgs.create_unit(s, name="镇", kind="township", parent_id=root.id)
        branch = orgs.create_unit(s, name="村支部", kind="branch", parent_id=town.id)
        s.commit()
        bid = branch.id
    wall = WallState(ctx)
    wall.load()
    tile = wall.tiles[bid]
    now = datetime.now(UTC)
    assert tile.state() == "offline" and tile.township == "镇"
    wall.apply(MeetingStarted(bid, "m1", "theme_day", "主题党日", now))
    assert tile.state() == "stalled"  # a meeting without video is never shown as live
    assert {a["kind"] for a in tile.alerts(now)} == {"device_offline", "stream_down"}
    wall.apply(StreamStateChanged(bid, "live"))
    assert tile.state() == "live"
    for member in range(1, 7):
        wall.apply(CheckInRecorded(bid, "m1", member, f"党员{member}", now, "fingerprint", False))
    wall.apply(HeadcountReported(bid, "m1", 1, now))
    assert "headcount_low" in {a["kind"] for a in tile.alerts(now)}
    wall.apply(AlertRaised(bid, "compliance_unmet", "本季度未召开支部党员大会"))
    wall.apply(AlertRaised(bid, "publisher_lost", "the hall's stream dropped"))
    wall.apply(AlertRaised(bid, "publisher_lost", "the hall's stream dropped"))
    kinds = [a["kind"] for a in tile.alerts(now)]
    assert kinds.count("publisher_lost") == 1 and "compliance_unmet" not in kinds
    wall.apply(StreamStateChanged(bid, "live"))
    assert "publisher_lost" not in {a["kind"] for a in tile.alerts(now)}
    await asyncio.sleep(0)
    wall.stop()
    ctx.engine.dispose()


async def test_deactivated_branch_leaves_open_walls_and_comes_back(tmp_path: Path) -> None:
    ctx = init_database(Settings(data_dir=tmp_path, media={"enabled": False}))  # type: ignore[arg-type]
    with ctx.session_factory() as s:
        root = orgs.create_unit(s, name="县", kind="county", parent_id=None)
        town = orgs.create_unit(s, name="镇", kind="township", parent_id=root.id)
        gone = orgs.create_unit(s, name="东村支部", kind="branch", parent_id=town.id)
        kept = orgs.create_unit(s, name="西村支部", kind="branch", parent_id=town.id)
        s.commit()
        gone_id, kept_id, root_path = gone.id, kept.id, root.path
    wall = WallState(ctx)
    wall.load()
    client = wall.connect(root_path)

    def set_active(active: bool) -> None:
        with ctx.session_factory() as s:
            unit = s.get(OrgUnit, gone_id)
            assert unit is not None
            unit.active = active
            s.commit()

    async def next_message() -> dict[str, Any]:
        return await asyncio.wait_for(client.queue.get(), 10)

    set_active(False)
    wall.apply(OrgUnitChanged(gone_id))
    assert await next_message() == {"type": "tile_removed", "branch_id": gone_id, "ts": ANY}
    assert [t["branch_id"] for t in wall.snapshot(root_path)["tiles"]] == [kept_id]
    # A fresh hub does not show it either.
    fresh = WallState(ctx)
    fresh.load()
    assert set(fresh.tiles) == {kept_id}
    # The hall's events meanwhile change nothing.
    wall.apply(AlertRaised(gone_id, "device_offline", "会场设备离线"))
    set_active(True)
    wall.apply(OrgUnitChanged(gone_id))
    msg = await next_message()
    assert msg["type"] == "tile" and msg["tile"]["branch_id"] == gone_id and msg["tile"]["name"] == "东村支部"
    assert {t["branch_id"] for t in wall.snapshot(root_path)["tiles"]} == {gone_id, kept_id}
    wall.disconnect(client)
    wall.stop()
    ctx.engine.dispose()


async def test_hall_device_faults_show_on_the_tile(tmp_path: Path) -> None:
    ctx = init_database(Settings(data_dir=tmp_path, media={"enabled": False}))  # type: ignore[arg-type]
    with ctx.session_factory() as s:
        root = orgs.create_unit(s, name="县", kind="county", parent_id=None)
        branch = orgs.create_unit(s, name="村支部", kind="branch", parent_id=root.id)
        s.commit()
        bid = branch.id
    wall = WallState(ctx)
    wall.load()
    now = datetime.now(UTC)
    faults = [{"code": "speaker_failed", "zh": "音箱无法播放县里讲话", "en": "the speaker cannot play"},
              {"code": "reader_fault", "zh": "指纹仪故障", "en": "reader fault"},
              {"code": "clock_jump", "zh": "系统时间跳变", "en": "clock jump"}]
    wall.apply(DeviceHealthReported(bid, 1, {"faults": faults}))
    kinds = {a["kind"] for a in wall.tiles[bid].alerts(now)}
    assert {"hall_speaker_failed", "hall_reader_fault"} <= kinds and "hall_clock_jump" not in kinds
    wall.apply(DeviceHealthReported(bid, 1, {"faults": []}))  # fixed at the hall: gone from the wall
    assert not {k for k in (a["kind"] for a in wall.tiles[bid].alerts(now)) if k.startswith("hall_")}
    await asyncio.sleep(0)
    wall.stop()
    ctx.engine.dispose()
