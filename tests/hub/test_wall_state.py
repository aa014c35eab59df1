"""The wall's tiles: states and alerts derived from events."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from hub.app import init_database
from hub.config import Settings
from hub.events import (
    AlertRaised,
    CheckInRecorded,
    HeadcountReported,
    MeetingStarted,
    StreamStateChanged,
)
from hub.organisations import service as orgs
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
