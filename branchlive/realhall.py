"""A demo hall with the real edge agent and emulated hardware.

Per hall: `branchlive fp-emulator` (an R503 on a pseudo-terminal, datasheet
timings) and `branchlive edge` (the agent: reader driver, outbox, uplink,
kiosk page, a test-pattern camera published over WHIP), each its own
process, as on a hall's mini PC. The members' fingers are "already
enrolled": their templates are put in the hub's backup over the device API,
and the agent restores them into the empty module at start, which is what
happens when a hall gets a replacement reader. Then a script plays the
secretary and the members: open the meeting on the kiosk, members put a
finger on the emulated glass one by one (now and then a messy first press),
close the meeting.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import random
import signal
import sys
from pathlib import Path

import httpx

from branchlive.seed import Hall
from firmware_stubs.fingerprint import sensor
from firmware_stubs.fingerprint.profiles import MODELS

log = logging.getLogger("demo.hall")
PIN = "246810"
MODEL = "R503"


def finger_name(member_id: int) -> str:
    return f"member-{member_id}-right-index"


class RealHall:
    def __init__(self, hall: Hall, hub_url: str, base_dir: Path, kiosk_port: int, *, members: int = 30,
                 env: dict[str, str] | None = None) -> None:
        self.hall = hall
        self.extra_env = env or {}  # BRANCHLIVE_EDGE_* overrides (tests: another camera, real sound)
        self.hub_url = hub_url
        self.dir = base_dir / f"hall-{hall.branch_id}"
        self.kiosk = f"http://127.0.0.1:{kiosk_port}"
        self.kiosk_port = kiosk_port
        self.members = hall.members[: min(members, MODELS[MODEL].capacity)]
        self.procs: list[asyncio.subprocess.Process] = []
        self.rng = random.Random(hall.branch_id)

    @property
    def link(self) -> Path:
        return self.dir / "fp0"

    @property
    def control(self) -> Path:
        return self.dir / "fp0.sock"

    async def backup_fingers(self) -> None:
        """Put each member's template in the hub's backup (slot = position)."""
        size = MODELS[MODEL].image_bytes
        headers = {"Authorization": f"Bearer {self.hall.token}"}
        async with httpx.AsyncClient(base_url=self.hub_url, headers=headers, timeout=30) as client:
            for slot, member_id in enumerate(self.members, start=1):
                template = sensor.extract(sensor.capture(sensor.Finger(finger_name(member_id)), size))
                r = await client.put("/api/v1/fingerprints/templates", json={
                    "member_id": member_id, "slot": slot, "finger": "右手食指",
                    "template_b64": base64.b64encode(template).decode()})
                r.raise_for_status()

    async def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        await self.backup_fingers()
        emulator = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "branchlive.cli", "fp-emulator", "--model", MODEL, "--link", str(self.link),
            "--control", str(self.control), "--library", str(self.dir / "library.json"), "--datasheet-timings",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        self.procs.append(emulator)
        for _ in range(100):
            if self.link.exists() and self.control.exists():
                break
            await asyncio.sleep(0.1)
        env = {
            **os.environ,
            "BRANCHLIVE_EDGE_HUB_URL": self.hub_url,
            "BRANCHLIVE_EDGE_DEVICE_TOKEN": self.hall.token,
            "BRANCHLIVE_EDGE_DATA_DIR": str(self.dir / "agent"),
            "BRANCHLIVE_EDGE_KIOSK_PORT": str(self.kiosk_port),
            "BRANCHLIVE_EDGE_ADMIN_PIN": PIN,
            "BRANCHLIVE_EDGE_READER_PORT": str(self.link),
            "BRANCHLIVE_EDGE_CAMERA_SOURCE": "pattern",
            "BRANCHLIVE_EDGE_AUDIO_INPUT": "tone",  # the demo has no microphone: a test tone
            "BRANCHLIVE_EDGE_ICE_HOST_ADDRESSES": '["127.0.0.1"]',
            **self.extra_env,
        }
        agent = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "branchlive.cli", "edge", "--log-level", "warning", env=env,
            stdout=asyncio.subprocess.DEVNULL)
        self.procs.append(agent)

    async def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), 15)
                except TimeoutError:
                    proc.kill()

    async def finger(self, message: dict[str, object]) -> dict[str, object]:
        reader, writer = await asyncio.open_unix_connection(str(self.control))
        try:
            writer.write((json.dumps(message) + "\n").encode())
            await writer.drain()
            return json.loads(await asyncio.wait_for(reader.readline(), 10) or b"{}")
        finally:
            writer.close()

    async def press(self, member_id: int, quality: str = "good") -> None:
        await self.finger({"finger": finger_name(member_id), "quality": quality})
        await asyncio.sleep(1.6)  # capture + extraction + search, and a moment to read the screen
        await self.finger({"op": "lift"})
        await asyncio.sleep(0.4)

    async def run_script(self, stop: asyncio.Event, speed: float = 1.0) -> None:
        async with httpx.AsyncClient(base_url=self.kiosk, timeout=30) as kiosk:
            while not stop.is_set():
                try:
                    (await kiosk.get("/api/state")).raise_for_status()
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(1)
            topics = [("theme_day", "主题党日：学习贯彻党的二十届四中全会精神"), ("general_meeting", "支部党员大会：民主评议党员")]
            while not stop.is_set():
                await _sleep(stop, self.rng.uniform(10, 30) / speed)
                (await kiosk.post("/api/admin/login", json={"pin": PIN})).raise_for_status()
                meeting_type, topic = self.rng.choice(topics)
                r = await kiosk.post("/api/admin/meeting/start", json={"meeting_type": meeting_type, "topic": topic})
                if r.status_code >= 400:
                    log.warning("hall %s could not open a meeting: %s", self.hall.name, r.text)
                    await _sleep(stop, 10)
                    continue
                arriving = self.rng.sample(self.members, k=int(len(self.members) * self.rng.uniform(0.6, 0.95)))
                for member_id in arriving:
                    if stop.is_set():
                        return
                    if self.rng.random() < 0.1:
                        await self.press(member_id, "messy")  # "not recognised, try again"
                    await self.press(member_id)
                    await _sleep(stop, self.rng.uniform(1, 6) / speed)
                await _sleep(stop, self.rng.uniform(90, 240) / speed)
                await kiosk.post("/api/admin/meeting/end")


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), max(0.0, seconds))
    except TimeoutError:
        pass


