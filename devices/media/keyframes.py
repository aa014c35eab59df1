"""Pictures from an IP camera in pass-through: decode one keyframe every few seconds.

Pass-through never decodes the stream it sends; the wall's thumbnail and the
headcount still need a picture. `KeyframeGrabber` keeps the newest keyframe
(SPS/PPS already in front, see EncodedPacketBackend) and, every
`interval_s`, decodes just that one access unit with a fresh decoder in a
thread. A keyframe decodes on its own, so nothing between keyframes is ever
touched: a 1-second GOP at 640x360 costs one decode every interval.
`latest` is what FrameAnalyzer reads, as it reads a camera's raw frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import av

from devices.camera.frames import CapturedFrame
from devices.camera.source import CaptureSource, Subscription

log = logging.getLogger(__name__)


def decode_keyframe(data: bytes, codec: str = "h264") -> CapturedFrame | None:
    """Blocking: one keyframe (Annex-B with parameter sets for H.264) to a BGR picture."""
    ctx: Any = av.CodecContext.create(codec, "r")
    try:
        frames = list(ctx.decode(av.Packet(data)))
        frames += list(ctx.decode(None))  # flush: a decoder may hold the picture back
    except av.error.FFmpegError as exc:
        log.info("keyframe did not decode: %s", exc)
        return None
    if not frames:
        return None
    image = frames[-1].to_ndarray(format="bgr24")
    return CapturedFrame(image=image, wall_ts=time.time(), mono_ts=time.monotonic(), seq=0)


class KeyframeGrabber:
    def __init__(self, packets: CaptureSource[av.Packet], *, interval_s: float = 5.0,
                 codec: str = "h264") -> None:
        self._packets = packets
        self.interval_s = interval_s
        self.codec = codec
        self.latest: CapturedFrame | None = None
        self.decoded = 0
        self._keyframe: bytes | None = None
        self._keyframe_seq = 0
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        if not self._tasks:
            sub = self._packets.subscribe(maxsize=30)
            self._tasks = [asyncio.create_task(self._collect(sub), name="keyframe-collect"),
                           asyncio.create_task(self._decode_loop(), name="keyframe-decode")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _collect(self, sub: Subscription[av.Packet]) -> None:
        try:
            while True:
                packet = await sub.get()
                if packet.is_keyframe:
                    self._keyframe = bytes(packet)
                    self._keyframe_seq += 1
        except EOFError:
            return
        finally:
            sub.close()

    async def _decode_loop(self) -> None:
        done_seq = 0
        while True:
            data, seq = self._keyframe, self._keyframe_seq
            if data is not None and seq != done_seq:
                done_seq = seq
                frame = await asyncio.to_thread(decode_keyframe, data, self.codec)
                if frame is not None:
                    self.decoded += 1
                    self.latest = CapturedFrame(frame.image, frame.wall_ts, frame.mono_ts, self.decoded)
            await asyncio.sleep(self.interval_s)
