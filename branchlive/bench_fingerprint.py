"""Fingerprint check-in latency: finger placed on the reader -> wall update.

A real hub runs in its own process (`branchlive hub`, embedded SQLite); this
process runs the emulated module on a pty (datasheet timings: capture 0.2 s,
extraction 0.5 s, search 0.1 s), a real edge agent (`EdgeApp`, the driver on
that pty) and an operator's `/ws/wall` socket. Members' fingers are backed up
to the hub first and restored into the empty module by the agent (the
restore path), then each member places a finger once.

Two figures per check-in, both on this machine's clock:
- including the module: from `place_finger` to the wall socket's delivery;
- excluding it: from the moment the driver got the Search reply
  (`FingerMatched.at`) to the wall socket's delivery.

The harness (`HubProcess`, `seed_branch`, `WallWatcher`, `start_edge`,
`enrol_on_kiosk`) is also used by tests/e2e/test_fingerprint_checkin.py.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import functools
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

from branchlive.hub_process import ADMIN_PASSWORD, HubProcess, free_port  # noqa: F401 - the harness names tests import from here

PIN = "135790"


async def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `check` until true; the timeout is a guard against hangs, not a measurement."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.02)


@dataclass
class Seeded:
    token: str  # the county admin's session token
    branch_id: int
    members: dict[str, int]  # name -> hub member id
    enrolment_code: str


def _ok(r: httpx.Response) -> Any:
    if r.status_code >= 300:
        raise RuntimeError(f"{r.request.method} {r.request.url} -> {r.status_code}: {r.text}")
    return r.json()  # type: ignore[no-any-return]


def seed_branch(hub_url: str, members: list[tuple[str, str]]) -> Seeded:
    """A township, one branch with `members` (name, member_no), and one device enrolment code."""
    with httpx.Client(base_url=hub_url, timeout=30) as c:
        token = _ok(c.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}))["token"]
        h = {"Authorization": f"Bearer {token}"}
        root = _ok(c.get("/api/v1/org-units", headers=h))[0]["id"]
        town = _ok(c.post("/api/v1/org-units", headers=h, json={"name": "城关镇", "kind": "township", "parent_id": root}))["id"]
        branch = _ok(c.post("/api/v1/org-units", headers=h, json={"name": "东风村党支部", "kind": "branch", "parent_id": town}))["id"]
        ids = {}
        for name, no in members:
            ids[name] = _ok(c.post(f"/api/v1/branches/{branch}/members", headers=h,
                                   json={"name": name, "member_no": no}))["id"]
    return Seeded(token, branch, ids, new_enrolment_code(hub_url, token, branch))


def new_enrolment_code(hub_url: str, token: str, branch_id: int, name: str = "大厅一体机") -> str:
    r = httpx.post(f"{hub_url}/api/v1/branches/{branch_id}/devices", headers={"Authorization": f"Bearer {token}"},
                   json={"name": name}, timeout=30)
    return str(_ok(r)["enrolment_code"])


@dataclass
class WallWatcher:
    """An operator's `/ws/wall` socket that reconnects across hub restarts and
    keeps every check-in it is told about, with its arrival time."""

    hub_url: str
    token: str
    checkins: list[tuple[dict[str, Any], float]] = field(default_factory=list)
    tiles: dict[int, dict[str, Any]] = field(default_factory=dict)  # branch id -> latest tile
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="wall-watcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def of(self, member_id: int, meeting_id: str | None = None) -> list[dict[str, Any]]:
        return [m for m, _ in self.checkins
                if m["member_id"] == member_id and (meeting_id is None or m["meeting_id"] == meeting_id)]

    async def _run(self) -> None:
        url = self.hub_url.replace("http://", "ws://") + "/ws/wall"
        while True:
            try:
                async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {self.token}"},
                                              max_size=None, open_timeout=5) as ws:
                    async for raw in ws:
                        now = time.time()
                        msg = json.loads(raw)
                        if msg["type"] == "snapshot":
                            self.tiles.update({t["branch_id"]: t for t in msg["tiles"]})
                            self.connected.set()
                        for m in msg["messages"] if msg["type"] == "batch" else [msg]:
                            if m.get("type") == "checkin":
                                self.checkins.append((m, now))
                            elif m.get("type") == "tile":
                                self.tiles[m["tile"]["branch_id"]] = m["tile"]
            except (OSError, websockets.WebSocketException, TimeoutError):
                pass
            self.connected.clear()
            await asyncio.sleep(0.2)


async def start_edge(data_dir: Path, hub_url: str, code: str | None, **overrides: Any) -> Any:
    """A real edge agent in this process, camera off, fast reconnects."""
    from devices.agent.app import EdgeApp
    from devices.agent.backoff import Backoff
    from devices.config import load_settings

    settings = load_settings(None, hub_url=hub_url, data_dir=data_dir, enrolment_code=code, kiosk_port=0,
                             admin_pin=PIN, heartbeat_s=5, **overrides)
    app = EdgeApp(settings, backoff=Backoff(base=0.2, cap=1.0), with_media=False)
    try:
        await app.start()
    except BaseException:
        await app.shutdown()
        raise
    return app


async def kiosk_client(app: Any) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.kiosk_port}", timeout=120)
    r = await client.post("/api/admin/login", json={"pin": PIN})
    if r.status_code != 200:
        await client.aclose()
        raise RuntimeError(f"kiosk admin login failed: {r.text}")
    return client


async def enrol_on_kiosk(app: Any, kiosk: httpx.AsyncClient, emulator: Any, member_id: int, finger: str) -> int:
    """Enrol `finger` for `member_id` through the kiosk's admin API, placing and
    lifting the simulated finger as the kiosk prompts; returns the slot."""
    request = asyncio.create_task(kiosk.post("/api/admin/enrol", json={"member_id": str(member_id)}))
    try:
        while not request.done():
            code = app.hall.prompt()[0].value
            if code in ("enrol_press", "enrol_again"):
                if emulator.finger is None:
                    emulator.place_finger(finger)
            elif emulator.finger is not None:
                emulator.lift_finger()
            await asyncio.sleep(0.02)
        r = request.result()
    finally:
        emulator.lift_finger()
        if not request.done():
            request.cancel()
    if r.status_code != 201:
        raise RuntimeError(f"enrolment of {member_id} failed: {r.status_code} {r.text}")
    # The member has lifted the finger; the scanner must see the empty glass
    # before the next person's finger counts as a new press.
    await wait_for(lambda: app.reader.checkin.phase.value == "scanning", 30, "the reader scanning again")
    return int(r.json()["slot"])


def template_of(finger: str, model: str = "R307") -> bytes:
    """The template the emulated module makes of `finger` (for seeding a backup)."""
    from firmware_stubs.fingerprint import sensor
    from firmware_stubs.fingerprint.profiles import profile

    return sensor.extract(sensor.capture(sensor.Finger(finger), profile(model).image_bytes))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else float("nan")


async def _drive(tmp: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    from firmware_stubs.fingerprint.emulator import FingerprintEmulator
    from firmware_stubs.fingerprint.module import Timings

    hub = HubProcess(tmp / "hub")
    hub.start()
    app = wall = kiosk = None
    emulator = FingerprintEmulator("R307", library_path=tmp / "library.json", link=tmp / "fp0",
                                   timings=Timings(capture=0.2, extract=0.5, search=0.1, reset=0.2))
    try:
        names = [(f"党员{i:02d}", f"B{i:03d}") for i in range(args.checkins)]
        seeded = seed_branch(hub.url, names)
        wall = WallWatcher(hub.url, seeded.token)
        wall.start()
        emulator.start()
        app = await start_edge(tmp / "edge", hub.url, seeded.enrolment_code, reader_port=str(emulator.link))
        await wait_for(lambda: app.online and len(app.roster) == len(names), 60, "the agent online with its roster")
        # Back the fingers up on the hub, then let the agent restore them into the module.
        token = await app._token()
        async with httpx.AsyncClient(base_url=hub.url, headers={"Authorization": f"Bearer {token}"}) as c:
            for slot, (name, _) in enumerate(names):
                _ok(await c.put("/api/v1/fingerprints/templates", json={
                    "member_id": seeded.members[name], "slot": slot,
                    "template_b64": base64.b64encode(template_of(f"finger-{name}")).decode()}))
        sync = app.fpsync
        # the worker's start-up check (empty module) is done; nothing else restores meanwhile
        await wait_for(lambda: not sync._check_empty and sync.state.value == "idle", 120, "the start-up check")
        t0 = time.monotonic()
        report = await sync.restore()
        restore_s = time.monotonic() - t0
        kiosk = await kiosk_client(app)
        r = await kiosk.post("/api/admin/meeting/start", json={"meeting_type": "theme_day", "topic": "指纹签到测速"})
        meeting_id = _ok(r)["meeting_id"]
        await wait_for(lambda: wall.connected.is_set(), 30, "the wall socket")

        matched_at: dict[int, float] = {}
        handle = app.hall.handle_reader_event

        async def spy(event: object) -> None:
            if type(event).__name__ == "FingerMatched":
                matched_at[int(event.slot)] = float(event.at)  # type: ignore[attr-defined]
            await handle(event)

        app.hall.handle_reader_event = spy
        with_module: list[float] = []
        without_module: list[float] = []
        for slot, (name, _) in enumerate(names):
            member = seeded.members[name]
            await asyncio.sleep(1.0)  # the next member steps up (the reader must see the glass empty)
            placed = time.time()
            emulator.place_finger(f"finger-{name}")
            await wait_for(functools.partial(lambda m: bool(wall.of(m, meeting_id)), member), 30,
                           f"{name}'s check-in on the wall")
            emulator.lift_finger()
            arrived = next(t for m, t in wall.checkins if m["member_id"] == member and m["meeting_id"] == meeting_id)
            with_module.append((arrived - placed) * 1000)
            without_module.append((arrived - matched_at[slot]) * 1000)
    finally:
        if kiosk is not None:
            await kiosk.aclose()
        if app is not None:
            await app.shutdown()
        if wall is not None:
            await wall.stop()
        emulator.stop()
        hub.stop()
    n = len(with_module)
    return [
        {"measure": "placed -> wall, including the module", "p50": f"{statistics.median(with_module):.0f} ms",
         "p99": f"{pct(with_module, 99):.0f} ms", "max": f"{max(with_module):.0f} ms", "n": n, "target": "p99 <= 1000 ms"},
        {"measure": "Search reply -> wall, excluding the module", "p50": f"{statistics.median(without_module):.1f} ms",
         "p99": f"{pct(without_module, 99):.1f} ms", "max": f"{max(without_module):.1f} ms", "n": n, "target": "p99 <= 150 ms"},
        {"measure": f"restore of {report.written} templates into the empty module", "p50": "", "p99": "",
         "max": f"{restore_s:.1f} s", "n": report.written, "target": ""},
    ]


def run(argv: list[str]) -> tuple[str, list[dict[str, Any]], str]:
    parser = argparse.ArgumentParser(prog="branchlive bench fingerprint")
    parser.add_argument("--checkins", type=int, default=40, help="members, each checking in once (default 40)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-fp-") as tmp:
        rows = asyncio.run(_drive(Path(tmp), args))
    notes = ("Emulated R307 on a pty with datasheet timings (GenImg 0.2 s with a finger, immediate without; "
             "Img2Tz 0.5 s; Search 0.1 s); the driver polls GenImg every 0.1 s, so a finger waits up to one "
             "poll before its image is taken. Hub in its own process on SQLite; edge agent "
             "(EdgeApp: driver, outbox, uplink) and the wall socket in this process, on 127.0.0.1. "
             "'Excluding the module' starts when the driver has the Search reply.")
    return f"fingerprint check-in, finger -> wall ({args.checkins} check-ins)", rows, notes
