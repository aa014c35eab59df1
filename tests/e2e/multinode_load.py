"""Lean publishers that reconnect, for the multi-node test (a load
generator, not a proof: the real edge agent's publisher is tested on its
own, tests/e2e/test_edge_media.py).

The bench's lean publisher (hub/media/bench.py `LeanStream`: aiortc sets the
hall up, then a pre-packetised 360p15 H.264 + Opus clip goes out with one
SRTP protect and one sendto per packet, one pacing loop for every hall of
the process) plus what a
hall does when its media node dies: each hall POSTs its WHIP offer to its
own hub address (any node: the 307 to the node that carries it is followed,
as devices/media/whip.py does), watches the RTCP receiver reports like the
edge agent (devices/media/publisher.py `_watch`), and when they stop for
MEDIA_TIMEOUT it publishes again (to its hub address, redirected anew).

    python -m tests.e2e.multinode_load CLIP_DIR HALLS_JSON STATUS_JSON

HALLS_JSON: [{"branch_id": 1, "token": "...", "urls": ["http://10.201.7.10:8600", ...],
              "address": "10.201.7.1"}, ...]  (address: the halls' own, default 127.0.0.1)
STATUS_JSON is rewritten every second: {branch_id: {"publishes": n, "url": final WHIP URL}}.
Ends on SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import httpx
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.codecs.h264 import H264Encoder

from hub.media.bench import LeanStream, lean_ready
from hub.media.ice import offer_host_addresses
from hub.media.relay import RelayTrack

MEDIA_TIMEOUT = 5.0  # no receiver report for this long once connected: the node is gone
CONNECT_TIMEOUT = 20.0  # like the edge agent's connect_timeout_s
CHECK_EVERY = 1.0


@dataclass
class Hall:
    branch_id: int
    token: str
    urls: list[str]  # the hub's addresses; the next one is tried when one does not answer
    address: str = "127.0.0.1"  # this hall's address (ICE host candidate)
    pc: RTCPeerConnection | None = None
    stream: LeanStream | None = None  # once the connection is up
    heard_at: float = 0.0
    last_rr: Any = None
    publishes: int = 0
    whip_url: str = ""
    errors: list[str] = field(default_factory=list)


async def publish(hall: Hall, client: httpx.AsyncClient, h264: list[Any]) -> bool:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver(RelayTrack("video", 1), direction="sendonly").setCodecPreferences(h264)
    pc.addTransceiver(RelayTrack("audio", 1), direction="sendrecv")
    offer_host_addresses(pc, [hall.address])
    try:
        await pc.setLocalDescription(await pc.createOffer())
        url = httpx.URL(f"{hall.urls[0]}/whip/{hall.branch_id}")
        for _ in range(5):  # 307 to the node that carries the hall, token kept (devices/media/whip.py)
            r = await client.post(url, content=pc.localDescription.sdp.encode(),
                                  headers={"Authorization": f"Bearer {hall.token}", "Content-Type": "application/sdp"})
            if r.status_code != 307:
                break
            url = url.join(r.headers["location"])
        if r.status_code != 201:
            raise RuntimeError(f"WHIP {r.status_code}: {r.text[:120]}")
        await pc.setRemoteDescription(RTCSessionDescription(sdp=r.text, type="answer"))
        if not await lean_ready(pc, CONNECT_TIMEOUT):
            raise RuntimeError(f"not connected within {CONNECT_TIMEOUT:.0f} s ({pc.connectionState})")
        stream = LeanStream(pc, r.text)
    except Exception as exc:  # noqa: BLE001 - node gone or busy: retried by the caller
        hall.errors = [*hall.errors[-4:], f"{type(exc).__name__}: {exc}"]
        if isinstance(exc, httpx.TransportError):
            hall.urls.append(hall.urls.pop(0))
        await pc.close()
        return False
    hall.pc, hall.stream = pc, stream
    hall.heard_at, hall.last_rr = time.monotonic(), None
    hall.publishes += 1
    hall.whip_url = str(r.url)
    return True


async def keep_publishing(hall: Hall, client: httpx.AsyncClient, h264: list[Any]) -> None:
    backoff = 0.5
    while True:
        if hall.pc is None:
            if not await publish(hall, client, h264):
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 4.0)
                continue
            backoff = 0.5
        before = time.monotonic()
        await asyncio.sleep(CHECK_EVERY)
        pc = hall.pc
        assert pc is not None
        now = time.monotonic()
        # Time this process did not run (a busy shared machine) is not the
        # hub's silence: it could not have read the reports either.
        hall.heard_at += max(0.0, now - before - 2 * CHECK_EVERY)
        if pc.connectionState in ("new", "connecting") and now - hall.heard_at < CONNECT_TIMEOUT:
            continue  # heard_at is the publish time until the first report
        with contextlib.suppress(Exception):
            sender = next(t.sender for t in pc.getTransceivers() if t.kind == "video")
            for stat in (await asyncio.wait_for(sender.getStats(), 5.0)).values():
                if stat.type == "remote-inbound-rtp" and stat.timestamp != hall.last_rr:
                    hall.last_rr, hall.heard_at = stat.timestamp, now
        if pc.connectionState in ("failed", "closed") or now - hall.heard_at > MEDIA_TIMEOUT:
            hall.errors = [*hall.errors[-4:], f"republish: {pc.connectionState}, last report "
                                              f"{now - hall.heard_at:.1f} s ago"]
            hall.pc = hall.stream = None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pc.close(), 5.0)


async def main(clip_dir: Path, halls_file: Path, status_file: Path) -> None:
    with av.open(str(clip_dir / "bench.h264")) as c:  # packetised once for every hall
        video = [H264Encoder._packetize(H264Encoder._split_bitstream(bytes(p))) for p in c.demux(video=0) if p.size]
    with av.open(str(clip_dir / "bench.ogg")) as c:
        audio = [bytes(p) for p in c.demux(audio=0) if p.size]
    h264 = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.name == "H264"]
    halls = [Hall(int(h["branch_id"]), h["token"], list(h["urls"]), h.get("address", "127.0.0.1"))
             for h in json.loads(halls_file.read_text())]
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    limits = httpx.Limits(max_connections=20)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        tasks = [asyncio.create_task(keep_publishing(h, client, h264)) for h in halls]
        start = time.monotonic()
        n_video = n_audio = 0
        written = 0.0
        while not stop.is_set():
            now = time.monotonic() - start
            while n_audio <= now * 50:
                data = audio[n_audio % len(audio)]
                for h in halls:
                    if h.stream is not None:
                        h.stream.send_audio(data, n_audio * 960)
                n_audio += 1
            while n_video <= now * 15:
                payloads = video[n_video % len(video)]
                for h in halls:
                    if h.stream is not None:
                        h.stream.send_video(payloads, n_video * 6000)
                n_video += 1
            if now - written >= 1.0:
                written = now
                tmp = status_file.with_suffix(".tmp")
                tmp.write_text(json.dumps({h.branch_id: {"publishes": h.publishes, "url": h.whip_url,
                                                         "up": h.pc is not None, "errors": h.errors}
                                           for h in halls}))
                os.replace(tmp, status_file)
            await asyncio.sleep(0.01)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for h in halls:
            if h.pc is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(h.pc.close(), 5.0)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])))
