"""A media node killed under a real hall: the hub (`branchlive hub` with two
local media node processes) in its own network namespace, the real edge
agent (`EdgeApp`: camera pattern, encoder, WHIP publisher with reconnect,
local recording and backfill) here, an operator's `/ws/wall` socket.

SIGKILL the node carrying the hall: the wall shows the hall offline, the
node is restarted by the hub, the hall publishes again (on the other node)
and the wall shows it live; the recording continues with at most one
segment plus the reconnect missing from the live segments."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from devices.media.publisher import PublisherState
from tests.devices.agent.conftest import eventually
from tests.e2e.test_edge_media import _netns_ok, agent, county, kiosk, recording, until_segments

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not _netns_ok(), reason="needs root and `ip netns` for the hub's namespace"),
]
SEGMENT_S = 6.0  # the hub's default media.segment_seconds


@dataclass
class TileWatcher:
    """Every stream state the wall showed for each branch, with its arrival time."""

    base: str
    token: str
    streams: dict[int, list[tuple[str, float]]] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None

    def shown(self, branch: int) -> str | None:
        seen = self.streams.get(branch)
        return seen[-1][0] if seen else None

    def _see(self, tile: dict[str, Any]) -> None:
        seen = self.streams.setdefault(tile["branch_id"], [])
        if not seen or seen[-1][0] != tile["stream"]:
            seen.append((tile["stream"], time.monotonic()))

    async def run(self) -> None:
        url = self.base.replace("http://", "ws://") + "/ws/wall"
        while True:
            with contextlib.suppress(OSError, websockets.WebSocketException, TimeoutError):
                async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {self.token}"},
                                              max_size=None, open_timeout=5) as ws:
                    async for raw in ws:
                        msg = json.loads(raw)
                        for tile in msg.get("tiles", []):
                            self._see(tile)
                        for m in msg["messages"] if msg["type"] == "batch" else [msg]:
                            if m.get("type") == "tile":
                                self._see(m["tile"])
            await asyncio.sleep(0.2)


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def test_a_killed_media_node_moves_the_hall_and_the_recording_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRANCHLIVE_MEDIA__WORKERS", "2")  # two local media node processes
    async with county(tmp_path) as (_, base, c), agent(tmp_path, base, c["code"]) as app:
        branch, headers = c["branch"], c["headers"]
        wall = TileWatcher(base, headers["Authorization"].split()[1])
        wall.task = asyncio.create_task(wall.run())
        try:
            async with kiosk(app) as k, httpx.AsyncClient(base_url=base, timeout=10, headers=headers) as hub:
                r = await k.post("/api/admin/meeting/start", json={"meeting_type": "theme_day", "topic": "节点"})
                assert r.status_code == 201, r.text
                meeting_id = r.json()["meeting_id"]
                await until_segments(base, headers, meeting_id, 2)
                await eventually(lambda: wall.shown(branch) == "live", 30)
                nodes = (await hub.get("/media/nodes")).json()
                assert [n["state"] for n in nodes] == ["up", "up"], nodes
                holder = next(n for n in nodes if branch in n["branches"])

                os.kill(holder["pid"], signal.SIGKILL)
                killed_at = time.monotonic()
                await eventually(lambda: wall.shown(branch) == "offline", 30)
                offline_after = wall.streams[branch][-1][1] - killed_at
                await eventually(lambda: wall.shown(branch) == "live"
                                 and app.media.publisher.state is PublisherState.PUBLISHING, 60)
                back_after = wall.streams[branch][-1][1] - killed_at

                async def restarted() -> list[dict[str, Any]]:
                    while True:
                        rows = (await hub.get("/media/nodes")).json()
                        if all(n["state"] == "up" for n in rows):
                            return list(rows)
                        await asyncio.sleep(0.2)

                rows = {n["name"]: n for n in await asyncio.wait_for(restarted(), 60)}
                assert rows[holder["name"]]["restarts"] == 1 and rows[holder["name"]]["pid"] != holder["pid"]
                assert branch not in rows[holder["name"]]["branches"]  # it moved to the other node
                before = sum(1 for s in (await recording(base, headers, meeting_id))["segments"]
                             if s["source"] == "live")
                await until_segments(base, headers, meeting_id, before + 2)
                r = await k.post("/api/admin/meeting/end", json={})
                assert r.status_code == 200, r.text
        finally:
            wall.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await wall.task
        rec = await recording(base, headers, meeting_id)

    # the wall never showed the hall live while its node was dead
    shown_after_kill = [state for state, at in wall.streams[branch] if at >= killed_at]
    assert shown_after_kill[0] == "offline" and shown_after_kill[-1] == "live", wall.streams[branch]
    live = sorted((_ts(s["started_at"]), s["duration"]) for s in rec["segments"] if s["source"] == "live")
    lost = max(b[0] - (a[0] + a[1]) for a, b in zip(live, live[1:], strict=False))
    assert lost <= SEGMENT_S + back_after + 1.0, f"{lost:.1f} s of live recording lost"
    print(f"media node killed: wall offline after {offline_after:.2f} s, hall live again after "
          f"{back_after:.1f} s, live recording gap {lost:.1f} s")
