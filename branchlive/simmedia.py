"""Video for the demo's scripted halls: each publishes a short pre-encoded
clip (640x360 15 fps H.264 + Opus, made once with ffmpeg) over WHIP while
its meeting is open, so the wall shows them live and the hub records them.

The packets are pre-encoded and paced by one loop for all halls (about
0.5 % of a core per hall); the halls with the real edge agent encode their
own camera instead."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription

from hub.media.bench import make_bench_clip
from hub.media.ice import offer_host_addresses
from hub.media.relay import RelayTrack

log = logging.getLogger("demo.media")


@dataclass
class _Stream:
    pc: RTCPeerConnection
    video: RelayTrack
    audio: RelayTrack
    location: str
    token: str


class ClipPublisher:
    def __init__(self, hub_url: str) -> None:
        self.hub_url = hub_url
        self.streams: dict[int, _Stream] = {}
        self.video: list[bytes] = []
        self.audio: list[bytes] = []
        self._pacer: asyncio.Task[None] | None = None

    async def start(self) -> bool:
        if shutil.which("ffmpeg") is None:
            log.warning("ffmpeg is not installed: the scripted halls will not send video")
            return False
        with tempfile.TemporaryDirectory(prefix="demo-clip-") as tmp:
            self.video, self.audio = await asyncio.to_thread(make_bench_clip, Path(tmp))
        self._pacer = asyncio.create_task(self._pace())
        return True

    async def publish(self, branch_id: int, token: str) -> None:
        if not self.video or branch_id in self.streams:
            return
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        video, audio = RelayTrack("video", 100), RelayTrack("audio", 100)
        pc.addTransceiver(video, direction="sendonly").setCodecPreferences(
            [c for c in RTCRtpSender.getCapabilities("video").codecs if c.name == "H264"])
        pc.addTransceiver(audio, direction="sendrecv")
        offer_host_addresses(pc, ["127.0.0.1"])
        await pc.setLocalDescription(await pc.createOffer())
        async with httpx.AsyncClient(base_url=self.hub_url, timeout=30) as client:
            r = await client.post(f"/whip/{branch_id}", content=pc.localDescription.sdp.encode(),
                                  headers={"Authorization": f"Bearer {token}", "Content-Type": "application/sdp"})
        if r.status_code != 201:
            log.warning("hub refused the demo stream of branch %s: %s %s", branch_id, r.status_code, r.text[:200])
            await pc.close()
            return
        await pc.setRemoteDescription(RTCSessionDescription(sdp=r.text, type="answer"))
        self.streams[branch_id] = _Stream(pc, video, audio, r.headers.get("location", ""), token)

    async def unpublish(self, branch_id: int) -> None:
        stream = self.streams.pop(branch_id, None)
        if stream is None:
            return
        stream.video.stop()
        stream.audio.stop()
        with contextlib.suppress(httpx.HTTPError):
            async with httpx.AsyncClient(base_url=self.hub_url, timeout=10) as client:
                await client.delete(stream.location, headers={"Authorization": f"Bearer {stream.token}"})
        await stream.pc.close()

    async def stop(self) -> None:
        if self._pacer:
            self._pacer.cancel()
        for branch_id in list(self.streams):
            await self.unpublish(branch_id)

    async def _pace(self) -> None:
        start = time.monotonic()
        n_video = n_audio = 0
        while True:
            now = time.monotonic() - start
            while n_audio <= now * 50:
                for s in self.streams.values():
                    s.audio.offer(self.audio[n_audio % len(self.audio)], n_audio * 960, True)
                n_audio += 1
            while n_video <= now * 15:
                for s in self.streams.values():
                    s.video.offer(self.video[n_video % len(self.video)], n_video * 6000, True)
                n_video += 1
            await asyncio.sleep(0.02)
