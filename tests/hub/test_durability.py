"""Nothing acknowledged is lost: across an orderly restart of the hub, a
restart of the PostgreSQL server, and a hub killed with SIGKILL."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import websockets
from fastapi.testclient import TestClient

from branchlive.hub_process import free_port
from branchlive.probe import hub_is_up
from hub.app import create_app
from hub.config import Settings
from tests.hub.conftest import ADMIN_PASSWORD, build_county, make_settings
from tests.hub.test_edge_ws import edge, msg, open_meeting, recv_until


def test_data_survives_restarts(tmp_path: Path, db_url: str) -> None:
    settings = make_settings(tmp_path, db_url)
    with TestClient(create_app(settings)) as client:
        county = build_county(client)
        with edge(client, county.tokens["东城一村"]) as ws:
            meeting_id = open_meeting(ws)
            c = msg("checkin", meeting_id=meeting_id, member_id=county.members["张三"], method="fingerprint", checked_in_at=time.time())
            ws.send_json(c)
            assert recv_until(ws, "ack", c["id"])["ok"]
    if db_url.startswith("postgresql"):
        subprocess.run([os.environ["BRANCHLIVE_TEST_PG_CTL"], "restart"], check=True, timeout=60)
    with TestClient(create_app(settings)) as client:
        rows = client.get(f"/api/v1/meetings/{meeting_id}/attendance", headers=county.admin).json()
        assert [r["name"] for r in rows] == ["张三"]
        # The resent message is still known after the restart: stored once.
        with edge(client, county.tokens["东城一村"]) as ws:
            ws.send_json(c)
            assert recv_until(ws, "ack", c["id"])["duplicate"] is True
        assert len(client.get(f"/api/v1/meetings/{meeting_id}/attendance", headers=county.admin).json()) == 1
        members = client.get(f"/api/v1/branches/{county.branches['东城一村']}/members", headers=county.admin).json()
        assert len(members) == 4


def start_hub(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BRANCHLIVE_ADMIN_PASSWORD": ADMIN_PASSWORD, "BRANCHLIVE_MEDIA__ENABLED": "false"}
    proc = subprocess.Popen([sys.executable, "-m", "branchlive.cli", "hub", "--data-dir", str(data_dir), "--port", str(port),
                             "--log-level", "warning"], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if hub_is_up(f"http://127.0.0.1:{port}", timeout=1):
            return proc
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("hub did not start")


@pytest.mark.slow
def test_acknowledged_checkins_survive_sigkill(tmp_path: Path) -> None:
    """Every check-in the hub acknowledged is on disk, even when the hub
    process is killed right after."""
    port = free_port()
    hub = start_hub(tmp_path, port)
    try:
        with TestClient(create_app(Settings(data_dir=tmp_path, admin_password=ADMIN_PASSWORD, media={"enabled": False}))) as c:
            county = build_county(c)  # seeds the same SQLite file through a second app
        token = county.tokens["东城一村"]
        members = [county.members[n] for n in ("张三", "李四", "王五", "赵六")]

        async def drive() -> tuple[str, list[str]]:
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws/edge", additional_headers={"Authorization": f"Bearer {token}"}) as ws:
                meeting_id = str(uuid.uuid4())
                start = msg("meeting.start", meeting_id=meeting_id, meeting_type="theme_day", topic="t", started_at=time.time())
                await ws.send(json.dumps(start))
                acked: list[str] = []
                for member in members:
                    m = msg("checkin", meeting_id=meeting_id, member_id=member, method="fingerprint", checked_in_at=time.time())
                    await ws.send(json.dumps(m))
                while len(acked) < len(members) + 1:
                    reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if reply["type"] == "ack":
                        assert reply["ok"], reply
                        acked.append(reply["id"])
                return meeting_id, acked

        meeting_id, acked = asyncio.run(drive())
        hub.send_signal(signal.SIGKILL)
        hub.wait(10)
        hub = start_hub(tmp_path, port)
        r = httpx.post(f"http://127.0.0.1:{port}/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        headers = {"Authorization": f"Bearer {r.json()['token']}"}
        rows = httpx.get(f"http://127.0.0.1:{port}/api/v1/meetings/{meeting_id}/attendance", headers=headers).json()
        assert sorted(r["member_id"] for r in rows) == sorted(members)
    finally:
        hub.kill()
        hub.wait(10)


def test_unreachable_database_is_one_line_and_nonzero(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    proc = subprocess.run(
        [sys.executable, "-m", "branchlive.cli", "hub", "--data-dir", str(tmp_path),
         "--database-url", f"postgresql+psycopg://nobody@127.0.0.1:{port}/nothing"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "cannot reach the database" in lines[0] and "BRANCHLIVE_DATABASE_URL" in lines[0]


def test_bad_setting_is_named(tmp_path: Path) -> None:
    env = {**os.environ, "BRANCHLIVE_LATE_GRACE_MINUTES": "soon"}
    proc = subprocess.run([sys.executable, "-m", "branchlive.cli", "hub", "--data-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2
    assert "BRANCHLIVE_LATE_GRACE_MINUTES" in proc.stderr and "Traceback" not in proc.stderr
    cfg = tmp_path / "hub.toml"
    cfg.write_text('port = 99999\n')
    proc = subprocess.run([sys.executable, "-m", "branchlive.cli", "hub", "--config", str(cfg)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "setting port" in proc.stderr
