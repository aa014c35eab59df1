"""The edge agent's media against the real hub, over a real (virtual) network link.

The hub (`branchlive hub`, media on) runs as a subprocess inside a network
namespace this test creates, joined to the host by a veth pair on a private
10.200.x.0/30; the agent (`EdgeApp`) runs here. Cutting the link is
`ip link set <veth> down`: WebSocket, WHIP, uploads and the WebRTC media all
lose their path at once, exactly like a village uplink going dark, and
nothing in the agent or the hub knows it is a test. Needs root and
iproute2; skipped otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from devices.agent.app import EdgeApp
from devices.agent.backoff import Backoff
from devices.agent.uplink import UplinkState
from devices.config import EdgeSettings, load_settings
from tests.devices.agent.conftest import eventually
from tests.e2e.netfabric import free_net, run_ip

ADMIN_PASSWORD = "county-admin-pw"
PIN = "135790"
HUB_PORT = 8600


def _netns_ok() -> bool:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    name = f"blprobe{secrets.token_hex(3)}"
    ok = subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode == 0
    if ok:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return ok


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not _netns_ok(), reason="needs root and `ip netns` to cut a real link"),
]



class HubLink:
    """A namespace for the hub and a veth pair to it; `cut()`/`restore()` the link."""

    def __init__(self) -> None:
        tag = secrets.token_hex(3)
        self.ns, self.edge_if, self.hub_if = f"blhub{tag}", f"ble{tag}", f"blh{tag}"
        net = free_net("10.200")
        self.edge_ip, self.hub_ip = f"10.200.{net}.1", f"10.200.{net}.2"

    def up(self) -> None:
        run_ip("netns", "add", self.ns)
        run_ip("link", "add", self.edge_if, "type", "veth", "peer", "name", self.hub_if)
        run_ip("link", "set", self.hub_if, "netns", self.ns)
        run_ip("addr", "add", f"{self.edge_ip}/30", "dev", self.edge_if)
        run_ip("link", "set", self.edge_if, "up")
        run_ip("-n", self.ns, "addr", "add", f"{self.hub_ip}/30", "dev", self.hub_if)
        run_ip("-n", self.ns, "link", "set", self.hub_if, "up")
        run_ip("-n", self.ns, "link", "set", "lo", "up")

    def cut(self) -> None:
        run_ip("link", "set", self.edge_if, "down")

    def restore(self) -> None:
        run_ip("link", "set", self.edge_if, "up")

    def down(self) -> None:
        subprocess.run(["ip", "link", "del", self.edge_if], capture_output=True, timeout=20)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True, timeout=20)


@contextlib.contextmanager
def hub_process(link: HubLink, data_dir: Path) -> Iterator[str]:
    env = dict(os.environ, BRANCHLIVE_ADMIN_PASSWORD=ADMIN_PASSWORD,
               BRANCHLIVE_MEDIA__ICE_HOST_ADDRESSES=f'["{link.hub_ip}"]')
    log = open(data_dir.parent / "hub.log", "wb")
    proc = subprocess.Popen(
        ["ip", "netns", "exec", link.ns, sys.executable, "-m", "branchlive.cli", "hub",
         "--host", link.hub_ip, "--port", str(HUB_PORT), "--data-dir", str(data_dir)],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[2])
    try:
        yield f"http://{link.hub_ip}:{HUB_PORT}"
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


async def wait_hub(base: str) -> None:
    async def poll() -> None:
        async with httpx.AsyncClient(timeout=2) as c:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await c.get(base + "/api/v1/meeting-types")).status_code < 500:
                        return
                await asyncio.sleep(0.3)

    await asyncio.wait_for(poll(), 60)


async def build_branch(base: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=10) as c:
        r = await c.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        assert r.status_code == 200, r.text
        h = {"Authorization": f"Bearer {r.json()['token']}"}
        root = (await c.get("/api/v1/org-units", headers=h)).json()[0]["id"]
        r = await c.post("/api/v1/org-units", headers=h,
                         json={"name": "东城一村", "kind": "branch", "parent_id": root})
        assert r.status_code == 201, r.text
        branch = r.json()["id"]
        members = {}
        for name, no in (("张三", "D001"), ("李四", "D002"), ("王五", "D003")):
            r = await c.post(f"/api/v1/branches/{branch}/members", headers=h, json={
                "name": name, "member_no": no, "status": "full", "excused": False, "committee": False})
            assert r.status_code == 201, r.text
            members[name] = r.json()["id"]
        r = await c.post(f"/api/v1/branches/{branch}/devices", headers=h, json={"name": "大厅一体机"})
        assert r.status_code == 201, r.text
        return {"headers": h, "branch": branch, "members": members, "code": r.json()["enrolment_code"]}


@contextlib.asynccontextmanager
async def county(tmp_path: Path) -> AsyncIterator[tuple[HubLink, str, dict[str, Any]]]:
    link = HubLink()
    link.up()
    try:
        (tmp_path / "hub").mkdir()
        with hub_process(link, tmp_path / "hub") as base:
            await wait_hub(base)
            yield link, base, await build_branch(base)
    finally:
        link.down()


async def _no_reader(_: EdgeSettings) -> None:
    return None


@contextlib.asynccontextmanager
async def agent(tmp_path: Path, base: str, code: str, **extra: Any) -> AsyncIterator[EdgeApp]:
    # no sound card here: a test tone for the microphone, talkback not played
    options: dict[str, Any] = {"camera_source": "pattern", "audio_input": "tone", "audio_output": "none",
                               **extra}
    settings = load_settings(hub_url=base, data_dir=tmp_path / "edge", enrolment_code=code,
                             kiosk_port=0, admin_pin=PIN, heartbeat_s=1.0, connect_timeout_s=5.0,
                             **options)
    app = EdgeApp(settings, reader_factory=_no_reader, backoff=Backoff(base=0.2, cap=2.0))
    try:
        await app.start()
        await app.uplink.wait_state(UplinkState.ONLINE, timeout=30)
        await eventually(lambda: len(app.roster) == 3, 20)
        yield app
    finally:
        await shut_down(app)


SHUTDOWN_BOUND_S = 120  # the agent's own steps are bounded (5 + 10 + 10 s and a store close)


async def shut_down(app: EdgeApp) -> None:
    """`app.shutdown()`, failing with every asyncio task's stack if it has not
    returned in SHUTDOWN_BOUND_S: a hall agent that hangs at shutdown (seen
    twice after the steady-loss meeting, not yet understood) fails here with
    what it waits for, instead of at pytest's 900 s timeout with nothing."""
    done = asyncio.ensure_future(app.shutdown())
    finished, _ = await asyncio.wait({done}, timeout=SHUTDOWN_BOUND_S)
    if finished:
        done.result()
        return
    stacks = []
    for task in asyncio.all_tasks():
        if task is asyncio.current_task():
            continue
        frames = "".join(f"\n    {f.f_code.co_filename}:{f.f_lineno} {f.f_code.co_name}"
                         for f in task.get_stack(limit=12))
        stacks.append(f"{task.get_name()} {task.get_coro()!r}{frames}")
    raise AssertionError(f"the edge agent did not shut down in {SHUTDOWN_BOUND_S} s; its tasks:\n"
                         + "\n".join(stacks))


async def recording(base: str, headers: dict[str, str], meeting_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=10) as c:
        r = await c.get(f"/api/v1/meetings/{meeting_id}/recording", headers=headers)
        return dict(r.json()) if r.status_code == 200 else {"segments": [], "gaps": []}


async def until_segments(base: str, headers: dict[str, str], meeting_id: str, n: int,
                         timeout: float = 90, source: str = "live") -> dict[str, Any]:
    async def poll() -> dict[str, Any]:
        while True:
            rec = await recording(base, headers, meeting_id)
            if sum(1 for s in rec["segments"] if s["source"] == source) >= n:
                return rec
            await asyncio.sleep(0.5)

    return await asyncio.wait_for(poll(), timeout)


def decoded_frames(path: Path) -> tuple[int, set[int]]:
    with av.open(str(path)) as f:
        frames = list(f.decode(video=0))
    return len(frames), {frame.width for frame in frames}


def hub_files(tmp_path: Path, meeting_id: str) -> list[Path]:
    return sorted((tmp_path / "hub" / "recordings").glob(f"*/{meeting_id}/*.*"))


@contextlib.asynccontextmanager
async def kiosk(app: EdgeApp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.kiosk_port}", timeout=10) as k:
        assert (await k.post("/api/admin/login", json={"pin": PIN})).status_code == 200
        yield k


async def test_agent_publishes_to_the_real_hub_which_records(tmp_path: Path) -> None:
    async with county(tmp_path) as (_, base, c), agent(tmp_path, base, c["code"]) as app:
        async with kiosk(app) as k:
            r = await k.post("/api/admin/meeting/start", json={"meeting_type": "theme_day", "topic": "直播"})
            assert r.status_code == 201, r.text
            meeting_id = r.json()["meeting_id"]
            await until_segments(base, c["headers"], meeting_id, 2)
            health = app._health()
            assert health["publisher"]["state"] == "publishing"
            assert health["camera_fps"] and health["camera_fps"] > 0
            assert health["bitrate_kbps"] and health["bitrate_kbps"] > 0
            assert health["recorder"]["state"] in ("recording", "waiting_keyframe")
            assert health["faults"] == []
            await k.post("/api/admin/meeting/end", json={})
    files = hub_files(tmp_path, meeting_id)
    assert files
    count, widths = decoded_frames(files[0])
    assert count > 10 and widths == {640}


async def test_rtsp_camera_passes_through_to_the_real_hub_without_encoding(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aiortc.codecs import h264, vpx

    from devices.media import VideoEncoder
    from firmware_stubs.camera import CameraEmulator, EmulatorSettings

    camera = CameraEmulator(EmulatorSettings(http_port=0, rtsp_port=0))
    await camera.start()
    calls: list[str] = []

    def forbidden(*args: object, **kwargs: object) -> None:
        calls.append(type(args[0]).__name__)
        raise AssertionError("an encoder ran in pass-through mode")

    try:
        # the emulator encodes in its own thread; from here on no encoder may run on the edge
        for cls in (h264.H264Encoder, vpx.Vp8Encoder, VideoEncoder):
            monkeypatch.setattr(cls, "encode", forbidden)
        async with county(tmp_path) as (_, base, c):
            async with agent(tmp_path, base, c["code"], camera_source=camera.rtsp_url,
                             camera_mode="passthrough") as app:
                async with kiosk(app) as k:
                    r = await k.post("/api/admin/meeting/start",
                                     json={"meeting_type": "committee", "topic": "RTSP"})
                    meeting_id = r.json()["meeting_id"]
                    await until_segments(base, c["headers"], meeting_id, 2)
                    assert app.media.feed.frames_out > 20
                    await k.post("/api/admin/meeting/end", json={})
    finally:
        await camera.stop()
    assert calls == []
    count, _ = decoded_frames(hub_files(tmp_path, meeting_id)[0])
    assert count > 10

