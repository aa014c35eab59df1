"""One encoded video feed per hall, shared by the WHIP publisher and the local recorder.

Encode once: a single task turns camera frames into H.264/VP8 (or forwards
an IP camera's H.264 untouched) and fans the encoded frames out to
subscribers, each with its own bounded queue. The publisher's track is one
subscriber, the offline recorder another, so the recorder stream-copies
exactly the frames that are (or would be) sent, and keeps them while the
publisher is down and no track exists.

    feed = VideoFeed.encoding(frames_source, encoder)    # or VideoFeed.passthrough(packets_source)
    await feed.start()
    sub = feed.subscribe(maxsize=30)                      # EncodedFrame objects
    feed.request_keyframe()                               # viewer joined / segment starts
    feed.stats()                                          # fps and kbit/s over the last seconds
    await feed.stop()

Timestamps: `pts` (90 kHz) follows time.monotonic(), so it never jumps with
the wall clock; `wall` (time.time() at capture) is carried only as a label,
and in every H.264 keyframe as an SEI message (capturetime.py) for the hub.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from dataclasses import dataclass, replace
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from devices.camera.frames import CapturedFrame
from devices.camera.source import CaptureSource, Subscription

from .capturetime import with_capture_time
from .encoder import TIME_BASE, VIDEO_CLOCK, VideoEncoder
from .tracks import no_signal_image

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    data: bytes
    pts: int  # 90 kHz, from the feed's monotonic clock
    keyframe: bool
    codec: str
    mono: float  # time.monotonic() at capture
    wall: float  # time.time() at capture: a label, never used for intervals


# A consumer's bounded queue of encoded frames; the oldest goes when it is full.
FeedSubscription = Subscription[EncodedFrame]


class VideoFeed:
    def __init__(self, *, frames: CaptureSource[CapturedFrame] | None = None,
                 packets: CaptureSource[av.Packet] | None = None,
                 encoder: VideoEncoder | None = None, fps: float = 15.0,
                 no_signal_after_s: float = 2.0, stats_window_s: float = 5.0) -> None:
        if (frames is None) == (packets is None):
            raise ValueError("a feed takes either raw frames (with an encoder) or encoded packets")
        if frames is not None and encoder is None:
            raise ValueError("encoding a camera's frames needs an encoder")
        self._frames = frames
        self._packets = packets
        self.encoder = encoder  # replaced by EdgeMedia when the hub picks another codec
        self.fps = fps
        self._no_signal_after_s = no_signal_after_s
        self._subs: list[FeedSubscription] = []
        self._task: asyncio.Task[None] | None = None
        self._keyframe_wanted = True
        self._recent: collections.deque[tuple[float, int]] = collections.deque()
        self._stats_window_s = stats_window_s
        self.frames_out = 0
        self.keyframe_requests = 0
        self.no_signal_frames = 0

    @property
    def passthrough(self) -> bool:
        return self._packets is not None

    @property
    def codec(self) -> str:
        return self.encoder.settings.codec if self.encoder is not None else "h264"

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(
                self._run_passthrough() if self.passthrough else self._run_encoding(),
                name="video-feed")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 10)
        for sub in list(self._subs):
            sub.close()

    def subscribe(self, maxsize: int = 30) -> FeedSubscription:
        sub = FeedSubscription(self, maxsize)
        self._subs.append(sub)
        return sub

    def _unsubscribe(self, sub: FeedSubscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    def request_keyframe(self) -> None:
        """The next encoded frame is a keyframe (an RTSP camera cannot be asked: no-op)."""
        self.keyframe_requests += 1
        self._keyframe_wanted = True

    def stats(self) -> dict[str, Any]:
        now = time.monotonic()
        while self._recent and now - self._recent[0][0] > self._stats_window_s:
            self._recent.popleft()
        frames = len(self._recent)
        span = self._stats_window_s
        return {"fps": round(frames / span, 1),
                "kbps": round(sum(size for _, size in self._recent) * 8 / span / 1000, 1)}

    def _fan_out(self, frame: EncodedFrame) -> None:
        if frame.keyframe and frame.codec == "h264":
            # the capture time travels with the keyframe, so that the hub labels its
            # copy of a segment exactly as the hall labels its own (capturetime.py)
            frame = replace(frame, data=with_capture_time(frame.data, frame.wall))
        self.frames_out += 1
        self._recent.append((frame.mono, len(frame.data)))
        for sub in list(self._subs):
            sub._push(frame)

    # ---- producers ----------------------------------------------------------------
    async def _run_encoding(self) -> None:
        assert self._frames is not None
        sub: Subscription[CapturedFrame] = self._frames.subscribe(maxsize=2)
        min_gap = 0.8 / self.fps
        t0: float | None = None
        last_pts = -1
        last_mono = 0.0
        try:
            while True:
                try:
                    frame = await sub.get(timeout=self._no_signal_after_s)
                    image, mono, wall = frame.image, frame.mono_ts, frame.wall_ts
                    if mono - last_mono < min_gap:
                        continue
                except TimeoutError:  # camera gone: say so on the picture, keep the timeline going
                    encoder = self.encoder
                    assert encoder is not None
                    s = encoder.settings
                    image, mono, wall = no_signal_image(s.width, s.height), time.monotonic(), time.time()
                    self.no_signal_frames += 1
                last_mono = mono
                if t0 is None:
                    t0 = mono
                pts = max(last_pts + 1, int((mono - t0) * VIDEO_CLOCK))
                last_pts = pts
                force, self._keyframe_wanted = self._keyframe_wanted, False
                encoder = self.encoder
                assert encoder is not None
                try:
                    packets = await asyncio.to_thread(encoder.encode, image, pts, force)
                except Exception:
                    log.exception("encoding a frame failed; the next one starts at a keyframe")
                    self._keyframe_wanted = True
                    continue
                for packet in packets:
                    self._fan_out(EncodedFrame(bytes(packet), int(packet.pts or pts),
                                               bool(packet.is_keyframe), encoder.settings.codec,
                                               mono, wall))
        except EOFError:
            return
        finally:
            sub.close()

    async def _run_passthrough(self) -> None:
        assert self._packets is not None
        sub: Subscription[av.Packet] = self._packets.subscribe(maxsize=60)
        step = int(VIDEO_CLOCK / self.fps)
        offset = 0
        last_in: int | None = None
        last_out = -1
        try:
            while True:
                packet = await sub.get()
                if packet.pts is None or packet.time_base is None:
                    continue
                pts = int(packet.pts * packet.time_base * VIDEO_CLOCK)
                if last_in is None or pts < last_in or pts - last_in > 5 * VIDEO_CLOCK:
                    offset = last_out + step - pts  # first packet or the camera restarted its clock
                last_in = pts
                out = max(last_out + 1, pts + offset)
                last_out = out
                self._fan_out(EncodedFrame(bytes(packet), out, bool(packet.is_keyframe), "h264",
                                           time.monotonic(), time.time()))
        except EOFError:
            return
        finally:
            sub.close()


class FeedVideoTrack(MediaStreamTrack):
    """What aiortc sends: the feed's frames as av.Packet (its pre-encoded path), from a keyframe."""

    kind = "video"

    def __init__(self, feed: VideoFeed, maxsize: int = 30) -> None:
        super().__init__()
        self._feed = feed
        self._sub = feed.subscribe(maxsize)
        self._started = False
        self._dropped_seen = 0
        self.packets_sent = 0
        self.keyframes_sent = 0
        self.keyframe_requests = 0
        feed.request_keyframe()

    @property
    def encoder(self) -> VideoEncoder | None:
        return self._feed.encoder

    def request_keyframe(self) -> None:
        self.keyframe_requests += 1
        self._feed.request_keyframe()

    async def recv(self) -> av.Packet:  # type: ignore[override]
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            try:
                frame = await self._sub.get()
            except EOFError:
                raise MediaStreamError from None
            if self._sub.dropped != self._dropped_seen:  # we lagged: resynchronise at a keyframe
                self._dropped_seen = self._sub.dropped
                self._started = False
                self._feed.request_keyframe()
            if not self._started:
                if not frame.keyframe:
                    continue
                self._started = True
            break
        packet = av.Packet(frame.data)
        packet.pts = packet.dts = frame.pts
        packet.time_base = TIME_BASE
        packet.is_keyframe = frame.keyframe
        self.packets_sent += 1
        if frame.keyframe:
            self.keyframes_sent += 1
        return packet

    def stop(self) -> None:
        self._sub.close()
        super().stop()
