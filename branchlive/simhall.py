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
from typing import Any

import websockets

from branchlive.seed import Hall


def message(type_: str, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "id": str(uuid.uuid4()), "ts": time.time(), **fields}


class SimHall:
    def __init__(self, hub_ws: str, hall: Hall, *, rng: random.Random | None = None,
                 thumbnail: Callable[[Hall, int], bytes] | None = None, media: Any = None) -> None:
        self.url = f"{hub_ws}/ws/edge"
        self.hall = hall
        self.rng = rng or random.Random(hall.branch_id)
        self.thumbnail = thumbnail
        self.media = media  # a ClipPublisher (branchlive.simmedia), or None: no video
        self.ws: Any = None
        self.pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.present = 0
        self.frame = 0

    async def connect(self) -> None:
        self.ws = await websockets.connect(self.url, additional_headers={"Authorization": f"Bearer {self.hall.token}"},
                                           open_timeout=30, max_queue=None)
        self._reader = asyncio.create_task(self._read())
        await self.send(message("hello", agent_version="simhall", roster_version=None), wait=False)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
            self._reader.cancel()

    async def _read(self) -> None:
        async for raw in self.ws:
            msg = json.loads(raw)
            if msg.get("type") == "ack":
                fut = self.pending.pop(msg["id"], None)
                if fut is not None and not fut.done():
                    fut.set_result(msg)

    async def send(self, msg: dict[str, Any], wait: bool = True, timeout: float = 30) -> dict[str, Any] | None:
        fut: asyncio.Future[dict[str, Any]] | None = None
        if wait:
            fut = asyncio.get_running_loop().create_future()
            self.pending[msg["id"]] = fut
        await self.ws.send(json.dumps(msg, ensure_ascii=False))
        return await asyncio.wait_for(fut, timeout) if fut else None

    async def send_thumbnail(self, frame_no: int) -> None:
        if self.thumbnail is None:
            return
        header = json.dumps({"type": "thumbnail", "id": str(uuid.uuid4()), "ts": time.time(), "taken_at": time.time()}).encode()
        await self.ws.send(len(header).to_bytes(2, "big") + header + self.thumbnail(self.hall, frame_no))

    async def open_meeting(self, meeting_type: str, topic: str) -> str:
        meeting_id = str(uuid.uuid4())
        await self.send(message("meeting.start", meeting_id=meeting_id, meeting_type=meeting_type, topic=topic, started_at=time.time()))
        self.present = 0
        return meeting_id

    async def check_in(self, meeting_id: str, member_id: int, method: str = "fingerprint", wait: bool = True) -> dict[str, Any] | None:
        fields: dict[str, Any] = {"reason": "指纹无法识别，工作人员确认"} if method == "staff" else {}
        return await self.send(message("checkin", meeting_id=meeting_id, member_id=member_id, method=method,
                                       checked_in_at=time.time(), **fields), wait=wait)

    async def end_meeting(self, meeting_id: str) -> None:
        await self.send(message("meeting.end", meeting_id=meeting_id, ended_at=time.time()))

    async def heartbeat(self) -> None:
        await self.send(message("heartbeat", health={"camera_fps": 15, "bitrate_kbps": 400, "reader": "ok",
                                                     "disk_free_mb": 20_000, "rtt_ms": 20}), wait=False)

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
            meeting_id = await self.open_meeting(meeting_type, topic)
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
                await self.check_in(meeting_id, member_id, method)
                self.present += 1
                if self.rng.random() < 0.3:
                    await self.send(message("headcount", meeting_id=meeting_id, count=max(0, self.present - self.rng.randint(0, 2)),
                                            taken_at=time.time()), wait=False)
            await self._idle(stop, self.rng.uniform(60, 180) / speed)
            await self.end_meeting(meeting_id)
            if self.media is not None:
                await self.media.unpublish(self.hall.branch_id)

    async def _idle(self, stop: asyncio.Event, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not stop.is_set() and time.monotonic() < deadline:
            await self.heartbeat()
            await self.send_thumbnail(self.frame)
            try:
                await asyncio.wait_for(stop.wait(), min(5.0, max(0.0, deadline - time.monotonic())))
            except TimeoutError:
                pass
