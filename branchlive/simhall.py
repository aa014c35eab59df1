"""A scripted village hall speaking the edge protocol (docs/protocols/edge-ws.md).

Used by the demo for halls without emulated hardware and by the check-in
benchmark. It is a protocol client, not a fake of the hub: everything it
sends goes through the real /ws/edge endpoint."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Self

import websockets

from devices.agent.uplink import AGENT_VERSION

# this release, marked simulated: the fleet view does not list the demo's halls as outdated agents
SIM_AGENT_VERSION = f"{AGENT_VERSION}+simhall"

if TYPE_CHECKING:
    from branchlive.seed import Hall


def message(type_: str, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "id": str(uuid.uuid4()), "ts": time.time(), **fields}


class EdgeClient:
    """One hall's edge agent reduced to the wire protocol: connect, send
    messages (waiting for their ack or not), thumbnails. Used by the demo,
    the benchmarks and the dashboard tests."""

    def __init__(self, hub_url: str, token: str) -> None:
        base = hub_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1).rstrip("/")
        self.url = f"{base}/ws/edge"
        self.token = token
        self.ws: Any = None
        self.pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.roster: list[dict[str, Any]] = []
        self.welcome: dict[str, Any] | None = None
        self._reader: asyncio.Task[None] | None = None

    async def connect(self) -> Self:
        self.ws = await websockets.connect(self.url, additional_headers={"Authorization": f"Bearer {self.token}"},
                                           max_size=None, max_queue=None, open_timeout=30)
        self._reader = asyncio.create_task(self._read())
        await self.send("hello", agent_version=SIM_AGENT_VERSION, roster_version=None)
        for _ in range(300):
            if self.welcome is not None:
                break
            await asyncio.sleep(0.05)
        return self

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                if msg.get("type") == "ack":
                    fut = self.pending.pop(msg["id"], None)
                    if fut is not None and not fut.done():
                        fut.set_result(msg)
                elif msg.get("type") == "welcome":
                    self.welcome = msg
                elif msg.get("type") == "roster":
                    self.roster = msg.get("members", [])
        except websockets.ConnectionClosed:  # pending acks time out
            pass

    async def send_message(self, msg: dict[str, Any], wait: bool = True, timeout: float = 30) -> dict[str, Any] | None:
        """Send a whole message (its `id` and `ts` set by the caller)."""
        fut: asyncio.Future[dict[str, Any]] | None = None
        if wait:
            fut = asyncio.get_running_loop().create_future()
            self.pending[msg["id"]] = fut
        await self.ws.send(json.dumps(msg, ensure_ascii=False))
        return await asyncio.wait_for(fut, timeout) if fut is not None else None

    async def send(self, mtype: str, wait: bool = False, timeout: float = 30, **fields: Any) -> dict[str, Any] | None:
        return await self.send_message(message(mtype, **fields), wait=wait, timeout=timeout)

    async def heartbeat(self) -> None:
        await self.send("heartbeat", health={"camera_fps": 15, "bitrate_kbps": 400, "reader": "ok",
                                             "disk_free_mb": 20_000, "rtt_ms": 20})

    async def thumbnail(self, jpeg: bytes) -> None:
        header = json.dumps({"type": "thumbnail", "id": str(uuid.uuid4()), "ts": time.time(), "taken_at": time.time()}).encode()
        await self.ws.send(len(header).to_bytes(2, "big") + header + jpeg)

    async def start_meeting(self, meeting_type: str = "theme_day", topic: str = "") -> str:
        meeting_id = str(uuid.uuid4())
        ack = await self.send("meeting.start", wait=True, meeting_id=meeting_id, meeting_type=meeting_type,
                              topic=topic, started_at=time.time())
        assert ack and ack["ok"], ack
        return meeting_id

    async def end_meeting(self, meeting_id: str) -> None:
        ack = await self.send("meeting.end", wait=True, meeting_id=meeting_id, ended_at=time.time())
        assert ack and ack["ok"], ack

    async def checkin(self, meeting_id: str, member_id: int, method: str = "fingerprint", reason: str | None = None,
                      wait: bool = True) -> dict[str, Any] | None:
        fields: dict[str, Any] = {"meeting_id": meeting_id, "member_id": member_id, "method": method,
                                  "checked_in_at": time.time()}
        if reason:
            fields["reason"] = reason
        return await self.send("checkin", wait=wait, **fields)

    async def headcount(self, meeting_id: str | None, count: int, wait: bool = True) -> None:
        await self.send("headcount", wait=wait, meeting_id=meeting_id, count=count, taken_at=time.time())


class SimHall(EdgeClient):
    """A hall whose secretary and members follow a script (the demo)."""

    def __init__(self, hub_url: str, hall: Hall, *, rng: random.Random | None = None,
                 thumbnail: Callable[[Hall, int], bytes] | None = None, media: Any = None) -> None:
        super().__init__(hub_url, hall.token)
        self.hall = hall
        self.rng = rng or random.Random(hall.branch_id)
        self.make_thumbnail = thumbnail
        self.media = media  # a ClipPublisher (branchlive.simmedia), or None: no video
        self.present = 0
        self.frame = 0

    async def run_script(self, stop: asyncio.Event, *, speed: float = 1.0) -> None:
        """Forever: idle a while, open a meeting, members arrive one by one,
        the camera counts heads, the meeting ends."""
        types = [("theme_day", "主题党日：学习党的二十届四中全会精神"), ("committee", "支委会：研究本月工作"),
                 ("general_meeting", "支部党员大会：发展党员表决"), ("party_lecture", "党课：乡村振兴与基层党建"),
                 ("group_meeting", "党小组会：交流学习体会")]
        self.frame = 0
        while not stop.is_set():
            await self._idle(stop, self.rng.uniform(5, 40) / speed)
            meeting_type, topic = self.rng.choice(types)
            meeting_id = await self.start_meeting(meeting_type, topic)
            self.present = 0
            if self.media is not None:
                await self.media.publish(self.hall.branch_id, self.hall.token)
            members = list(self.hall.members)
            self.rng.shuffle(members)
            arriving = members[: int(len(members) * self.rng.uniform(0.55, 0.95))]
            for member_id in arriving:
                if stop.is_set():
                    return
                await self._idle(stop, self.rng.uniform(1, 5) / speed)
                self.frame += 1
                method = "staff" if self.rng.random() < 0.05 else "fingerprint"
                await self.checkin(meeting_id, member_id, method,
                                   reason="指纹无法识别，工作人员确认" if method == "staff" else None)
                self.present += 1
                if self.rng.random() < 0.3:
                    await self.headcount(meeting_id, max(0, self.present - self.rng.randint(0, 2)), wait=False)
            await self._idle(stop, self.rng.uniform(60, 180) / speed)
            await self.end_meeting(meeting_id)
            if self.media is not None:
                await self.media.unpublish(self.hall.branch_id)

    async def _idle(self, stop: asyncio.Event, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not stop.is_set() and time.monotonic() < deadline:
            await self.heartbeat()
            if self.make_thumbnail is not None:
                await self.thumbnail(self.make_thumbnail(self.hall, self.frame))
            try:
                await asyncio.wait_for(stop.wait(), min(5.0, max(0.0, deadline - time.monotonic())))
            except TimeoutError:
                pass
