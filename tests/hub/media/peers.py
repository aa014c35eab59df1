"""Real aiortc peers for the media tests: a WHIP publisher sending
pre-encoded H.264/VP8 + Opus (as an edge or an encoder does), and a WHEP
viewer that decodes what it receives and can talk back."""

from __future__ import annotations

import asyncio
import fractions
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import av
import httpx
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, MediaStreamTrack

from hub.media.ice import offer_host_addresses

VIDEO_TB = fractions.Fraction(1, 90_000)
AUDIO_TB = fractions.Fraction(1, 48_000)


@dataclass
class Clip:
    codec: str
    video: list[bytes]
    audio: list[bytes]
    fps: int = 15



def baseline_h264_encoder(width: int, height: int) -> av.CodecContext:
    """libx264 set up as a hall's encoder sends: constrained Baseline, 15 fps,
    no lookahead, SPS/PPS before every keyframe."""
    ctx = av.CodecContext.create("libx264", "w")
    ctx.profile = "Baseline"
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    ctx.time_base, ctx.framerate = fractions.Fraction(1, 15), fractions.Fraction(15)
    ctx.options = {"preset": "veryfast", "tune": "zerolatency", "x264-params": "repeat-headers=1"}
    return ctx


def encode_random_frames(ctx: av.CodecContext, frames: int, seed: int) -> list[bytes]:
    """Encode `frames` frames of seeded noise with the opened encoder `ctx`
    (every frame differs: no two keyframes alike); the packets as bytes."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out: list[bytes] = []
    for i in range(frames):
        image = rng.integers(0, 255, (ctx.height, ctx.width, 3), dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        out += [bytes(p) for p in ctx.encode(frame)]
    return out + [bytes(p) for p in ctx.encode(None)]


def make_clip(directory: Path, codec: str, size: str = "320x180", seconds: int = 4) -> Clip:
    """Encode a synthetic clip once with ffmpeg (1 s GOP) and keep its packets."""
    directory.mkdir(parents=True, exist_ok=True)
    vpath = directory / ("clip.h264" if codec == "h264" else "clip.ivf")
    apath = directory / "clip.ogg"
    if codec == "h264":
        vargs = ["-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-g", "15",
                 "-x264-params", "threads=1:sliced-threads=0:scenecut=0", "-b:v", "400k",
                 "-bsf:v", "h264_mp4toannexb", "-f", "h264"]
    else:
        vargs = ["-c:v", "libvpx", "-b:v", "400k", "-g", "15", "-keyint_min", "15", "-f", "ivf"]
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size={size}:rate=15", "-t", str(seconds), *vargs, str(vpath)],
                   check=True)
    if not apath.exists():
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        "sine=frequency=440:sample_rate=48000", "-t", str(seconds), "-ac", "2",
                        "-c:a", "libopus", "-frame_duration", "20", "-b:a", "32k", str(apath)],
                       check=True)
    with av.open(str(vpath)) as c:
        video = [bytes(p) for p in c.demux(video=0) if p.size]
    with av.open(str(apath)) as c:
        audio = [bytes(p) for p in c.demux(audio=0) if p.size]
    return Clip(codec, video, audio)


class EncodedTrack(MediaStreamTrack):
    """Loops pre-encoded packets in real time (pts keep growing across loops)."""

    def __init__(self, kind: str, packets: list[bytes], rate: float, step: int) -> None:
        super().__init__()
        self.kind = kind
        self._packets = packets
        self._rate = rate
        self._step = step
        self._tb = VIDEO_TB if kind == "video" else AUDIO_TB
        self._n = 0
        self._start: float | None = None
        self.sent = 0

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._n / self._rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        packet = av.Packet(self._packets[self._n % len(self._packets)])
        packet.pts = self._n * self._step
        packet.time_base = self._tb
        self._n += 1
        self.sent += 1
        return packet


def loopback_config() -> RTCConfiguration:
    return RTCConfiguration(iceServers=[])


def _prefer(transceiver, kind: str, name: str) -> None:  # noqa: ANN001
    caps = RTCRtpSender.getCapabilities(kind)
    transceiver.setCodecPreferences([c for c in caps.codecs if c.name.lower() == name])


@dataclass
class Publisher:
    pc: RTCPeerConnection
    video: EncodedTrack
    audio: EncodedTrack | None
    location: str
    talkback_frames: int = 0
    tasks: list[asyncio.Task] = field(default_factory=list)

    async def close(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.pc.close()


async def publish(client: httpx.AsyncClient, branch_id: int, token: str, clip: Clip,
                  audio: bool = True, offer_filter=None) -> Publisher | httpx.Response:  # noqa: ANN001
    pc = RTCPeerConnection(loopback_config())
    video = EncodedTrack("video", clip.video, clip.fps, 6000)
    t = pc.addTransceiver(video, direction="sendonly")
    _prefer(t, "video", clip.codec)
    atrack = None
    if audio:
        atrack = EncodedTrack("audio", clip.audio, 50, 960)
        pc.addTransceiver(atrack, direction="sendrecv")
    offer_host_addresses(pc, ["127.0.0.1"])
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    if offer_filter is not None:
        sdp = offer_filter(sdp)
    resp = await client.post(f"/whip/{branch_id}", content=sdp.encode(),
                             headers={"Authorization": f"Bearer {token}",
                                      "Content-Type": "application/sdp"})
    if resp.status_code != 201:
        await pc.close()
        return resp
    pub = Publisher(pc, video, atrack, resp.headers["location"])

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            pub.tasks.append(asyncio.ensure_future(_count_talkback(pub, track)))

    await pc.setRemoteDescription(RTCSessionDescription(sdp=resp.text, type="answer"))
    return pub


async def _count_talkback(pub: Publisher, track: MediaStreamTrack) -> None:
    try:
        while True:
            await track.recv()
            pub.talkback_frames += 1
    except MediaStreamError:
        pass


@dataclass
class Viewer:
    pc: RTCPeerConnection
    location: str
    frames: int = 0
    audio_frames: int = 0
    width: int = 0
    tasks: list[asyncio.Task] = field(default_factory=list)

    async def close(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.pc.close()


async def view(client: httpx.AsyncClient, branch_id: int, user: str,
               talk: bool = False) -> Viewer | httpx.Response:
    pc = RTCPeerConnection(loopback_config())
    pc.addTransceiver("video", direction="recvonly")
    if talk:
        pc.addTransceiver(AudioStreamTrack(), direction="sendrecv")
    else:
        pc.addTransceiver("audio", direction="recvonly")
    offer_host_addresses(pc, ["127.0.0.1"])
    await pc.setLocalDescription(await pc.createOffer())
    resp = await client.post(f"/whep/{branch_id}", content=pc.localDescription.sdp.encode(),
                             headers={"X-User": user, "Content-Type": "application/sdp"})
    if resp.status_code != 201:
        await pc.close()
        return resp
    viewer = Viewer(pc, resp.headers["location"])

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        viewer.tasks.append(asyncio.ensure_future(_consume(viewer, track)))

    await pc.setRemoteDescription(RTCSessionDescription(sdp=resp.text, type="answer"))
    return viewer


async def _consume(viewer: Viewer, track: MediaStreamTrack) -> None:
    try:
        while True:
            frame = await track.recv()
            if track.kind == "video":
                viewer.frames += 1
                viewer.width = frame.width
            else:
                viewer.audio_frames += 1
    except MediaStreamError:
        pass


async def wait_for(predicate, timeout: float = 30.0, what: str = "condition") -> None:  # noqa: ANN001
    """Poll until `predicate()` is true; the timeout only guards against hangs."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
