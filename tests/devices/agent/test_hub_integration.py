"""The whole edge agent (`EdgeApp`: uplink, outbox, kiosk) against the real
hub app (`hub.app:create_app`) served by uvicorn on 127.0.0.1: enrolment,
roster, a meeting with a fingerprint and a staff check-in made on the kiosk
over HTTP, live kiosk updates over SSE, and check-ins made while the hub is
down delivered exactly once when it is back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from devices.agent.app import EdgeApp
from devices.agent.backoff import Backoff
from devices.agent.reader import FingerprintReader
from devices.agent.uplink import UplinkState
from devices.config import EdgeSettings, load_settings
from tests.devices.agent.conftest import eventually

hub_app = pytest.importorskip("hub.app")
hub_config = pytest.importorskip("hub.config")

ADMIN_PASSWORD = "county-admin-pw"
PIN = "135790"


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def run_hub(tmp_path: Path, port: int = 0) -> AsyncIterator[str]:
    settings = hub_config.Settings(
        data_dir=tmp_path / "hub", database_url=f"sqlite:///{tmp_path / 'hub.db'}",
        admin_password=ADMIN_PASSWORD, media={"enabled": False},
    )
    app = hub_app.create_app(settings)
    server = _Server(uvicorn.Config(app, log_level="warning", lifespan="on",
                                    timeout_graceful_shutdown=2))
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: server.started or task.done(), 30)
        assert server.started, "the hub did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)


async def build_branch(base: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=10) as c:
        r = await c.post("/api/v1/auth/login",
                         json={"username": "admin", "password": ADMIN_PASSWORD})
        assert r.status_code == 200, r.text
        h = {"Authorization": f"Bearer {r.json()['token']}"}
        root = (await c.get("/api/v1/org-units", headers=h)).json()[0]["id"]
        town = (await c.post("/api/v1/org-units", headers=h, json={
            "name": "东城镇", "kind": "township", "parent_id": root})).json()["id"]
        r = await c.post("/api/v1/org-units", headers=h,
                         json={"name": "东城一村", "kind": "branch", "parent_id": town})
        assert r.status_code == 201, r.text
        branch = r.json()["id"]
        members = {}
        for name, no in (("张三", "D001"), ("李四", "D002"), ("王五", "D003")):
            r = await c.post(f"/api/v1/branches/{branch}/members", headers=h, json={
                "name": name, "member_no": no, "status": "full", "excused": False,
                "committee": False})
            assert r.status_code == 201, r.text
            members[name] = r.json()["id"]
        r = await c.post(f"/api/v1/branches/{branch}/devices", headers=h,
                         json={"name": "大厅一体机"})
        assert r.status_code == 201, r.text
        return {"headers": h, "branch": branch, "members": members,
                "code": r.json()["enrolment_code"]}


async def attendance(base: str, headers: dict[str, str], meeting_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=base, timeout=10) as c:
        r = await c.get(f"/api/v1/meetings/{meeting_id}/attendance", headers=headers)
        assert r.status_code == 200, r.text
        return list(r.json())


class QueueReader:
    """A fingerprint reader fed by the test (the real one is devices/fingerprint)."""

    capacity = 200

    def __init__(self) -> None:
        self.queue: asyncio.Queue[object] = asyncio.Queue()

    async def events(self) -> AsyncIterator[object]:
        while True:
            yield await self.queue.get()

    async def enroll(self, slot: int, prompt: Callable[[str], None]) -> bytes | None:
        return None

    async def delete(self, slot: int) -> None:
        return None

    async def close(self) -> None:
        return None


class FingerMatched:
    def __init__(self, slot: int) -> None:
        self.slot, self.score = slot, 80


def edge_settings(tmp_path: Path, base: str, code: str) -> EdgeSettings:
    return load_settings(
        hub_url=base, data_dir=tmp_path / "edge", enrolment_code=code, kiosk_port=0,
        admin_pin=PIN, heartbeat_s=1.0, connect_timeout_s=5.0,
    )


@contextlib.asynccontextmanager
async def run_edge(settings: EdgeSettings, reader: QueueReader) -> AsyncIterator[EdgeApp]:
    async def factory(_: EdgeSettings) -> FingerprintReader:
        return reader

    app = EdgeApp(settings, reader_factory=factory, with_media=False,
                  backoff=Backoff(base=0.05, cap=0.2))
    try:
        await app.start()
        yield app
    finally:
        await app.shutdown()


async def outbox_empty(app: EdgeApp) -> None:
    async def poll() -> None:
        while await app.outbox.count_pending():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), 20)


async def test_edge_agent_against_the_real_hub(tmp_path: Path) -> None:
    reader = QueueReader()
    async with run_hub(tmp_path) as base:
        county = await build_branch(base)
        settings = edge_settings(tmp_path, base, county["code"])
        async with run_edge(settings, reader) as edge:
            await edge.uplink.wait_state(UplinkState.ONLINE, timeout=20)
            await eventually(lambda: len(edge.roster) == 3)
            assert settings.token_path.exists()
            zhang = str(county["members"]["张三"])
            li = str(county["members"]["李四"])
            await edge.slots.assign(3, zhang)
            kiosk = f"http://127.0.0.1:{edge.kiosk_port}"
            async with httpx.AsyncClient(base_url=kiosk, timeout=10) as k:
                async with k.stream("GET", "/api/events") as events:
                    lines = events.aiter_lines()
                    first = await _next_event(lines)
                    assert first["uplink"]["state"] == "online" and first["meeting"] is None

                    assert (await k.post("/api/admin/login", json={"pin": PIN})).status_code == 200
                    r = await k.post("/api/admin/meeting/start",
                                     json={"meeting_type": "theme_day", "topic": "学习党章"})
                    assert r.status_code == 201, r.text
                    meeting_id = r.json()["meeting_id"]
                    await reader.queue.put(FingerMatched(3))
                    snap = await _until(lines, lambda s: s["last_checkin"] is not None)
                    assert snap["last_checkin"]["name"] == "张三"
                    assert snap["meeting"]["topic"] == "学习党章"
                    r = await k.post("/api/admin/checkin",
                                     json={"member_id": li, "reason": "手指受伤"})
                    assert r.status_code == 201, r.text
                await outbox_empty(edge)
                rows = await attendance(base, county["headers"], meeting_id)
                assert sorted((row["name"], row["method"]) for row in rows) == [
                    ("张三", "fingerprint"), ("李四", "staff")]
                page = (await k.get("/")).text
                assert "在线" in page and "李四" in page


async def test_check_ins_made_while_the_hub_is_down_arrive_once(tmp_path: Path) -> None:
    reader = QueueReader()
    async with run_hub(tmp_path) as base:
        county = await build_branch(base)
    port = int(base.rsplit(":", 1)[1])
    settings = edge_settings(tmp_path, base, county["code"])
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(run_hub(tmp_path, port))
        edge = await stack.enter_async_context(run_edge(settings, reader))
        await edge.uplink.wait_state(UplinkState.ONLINE, timeout=20)
        await eventually(lambda: len(edge.roster) == 3)
        await stack.aclose()  # hub and agent down; start the agent alone
    async with run_edge(settings, reader) as edge:
        await edge.uplink.wait_state(UplinkState.OFFLINE, timeout=20)
        info = await edge.desk.start_meeting("committee", "停电也要开会")
        for name in ("张三", "李四", "王五"):
            result = await edge.hall.staff_check_in(str(county["members"][name]), "离线代签")
            assert result.accepted
        assert await edge.outbox.count_pending() == 4
        async with run_hub(tmp_path, port):
            await edge.uplink.wait_state(UplinkState.ONLINE, timeout=30)
            await outbox_empty(edge)
            rows = await attendance(base, county["headers"], info.id)
    assert sorted(row["name"] for row in rows) == ["张三", "李四", "王五"]
    assert await _rejected(settings) == []


async def _rejected(settings: EdgeSettings) -> list[Any]:
    from devices.agent.outbox import Outbox
    from devices.agent.store import Store

    store = await Store.open(settings.db_path)
    try:
        return await Outbox(store).rejected()
    finally:
        await store.close()


async def _next_event(lines: AsyncIterator[str]) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        async for line in lines:
            if line.startswith("data: "):
                return dict(json.loads(line[6:]))
        raise AssertionError("event stream ended")

    return await asyncio.wait_for(read(), 20)


async def _until(lines: AsyncIterator[str], check: Callable[[dict[str, Any]], bool]
                 ) -> dict[str, Any]:
    while True:
        snap = await _next_event(lines)
        if check(snap):
            return snap
