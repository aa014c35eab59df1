"""最后在线 (last seen) is when the hall was last heard from, not when it
connected: the device list and the fleet view while it is connected, and
the database once it has gone."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.hub.conftest import County
from tests.hub.test_edge_ws import edge, msg, recv_until

CONNECTED = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def seen(client: TestClient, county: County) -> dict[str, Any]:
    branch = county.branches["东城一村"]
    [device] = [d for d in client.get(f"/api/v1/branches/{branch}/devices", headers=county.admin).json()
                if d["revoked_at"] is None and d["enrolled_at"] is not None]
    [fleet] = [d for d in client.get("/api/v1/fleet", headers=county.admin).json()["devices"] if d["device_id"] == device["id"]]
    return {"devices": datetime.fromisoformat(device["last_seen_at"]), "fleet": datetime.fromisoformat(fleet["last_seen_at"])}


def test_last_seen_is_the_last_message_not_the_connection(client: TestClient, county: County) -> None:
    gateway = client.app.state.ctx.edge  # type: ignore[attr-defined]
    now = [CONNECTED]
    gateway.clock = lambda: now[0]
    with edge(client, county.tokens["东城一村"]) as ws:
        ws.send_json(msg("hello", agent_version="test", roster_version=None))
        recv_until(ws, "welcome")
        assert seen(client, county) == {"devices": CONNECTED, "fleet": CONNECTED}
        now[0] = CONNECTED + timedelta(hours=3)  # three hours of heartbeats later
        beat = msg("heartbeat", health={"reader": "ok"})
        ws.send_json(beat)
        recv_until(ws, "ack", beat["id"])
        assert seen(client, county) == {"devices": now[0], "fleet": now[0]}
    # gone: the time it was last heard from stays
    gone = CONNECTED + timedelta(hours=3)
    now[0] = CONNECTED + timedelta(days=1)
    deadline = time.monotonic() + 30  # the hub writes it as the connection closes
    while seen(client, county) != {"devices": gone, "fleet": gone}:
        assert time.monotonic() < deadline, seen(client, county)
        time.sleep(0.05)
