"""Encode-once video encoder: raw BGR frames in, H.264 or VP8 packets out.

aiortc's built-in encoders fix the GOP (VP8: 3000 frames; x264: its
default), take their bitrate from the receiver's REMB and let x264 cut
frames into slices. The edge needs a keyframe at least every 2 s and on
request, a configured bitrate, and one slice per frame (see
shared/notes/aiortc-capacity.md, pitfall 4), so it encodes itself and hands
aiortc finished packets (the sender's pre-encoded `pack()` path).

Blocking: call `encode()` from a worker thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import av
import numpy as np

from .errors import EncoderError

VIDEO_CLOCK = 90000
TIME_BASE = Fraction(1, VIDEO_CLOCK)
Codec = Literal["h264", "vp8"]


@dataclass(frozen=True)
class EncoderSettings:
    codec: Codec = "h264"
    width: int = 640
    height: int = 360
    fps: float = 15.0
    bitrate: int = 600_000
    keyframe_interval_s: float = 2.0

    def __post_init__(self) -> None:
        if not (320 <= self.width <= 1920 and 180 <= self.height <= 1080):
            raise ValueError(f"video size {self.width}x{self.height} is outside 320x180..1920x1080")
        if self.width % 2 or self.height % 2:
            raise ValueError(f"video size {self.width}x{self.height} must be even")
        if not 1 <= self.fps <= 60:
            raise ValueError(f"frame rate {self.fps} is outside 1..60")
        if not 50_000 <= self.bitrate <= 8_000_000:
            raise ValueError(f"bitrate {self.bitrate} is outside 50k..8M bit/s")
        if not 0.2 <= self.keyframe_interval_s <= 2.0:
            raise ValueError(f"keyframe interval {self.keyframe_interval_s} s is outside 0.2..2 s")

    @property
    def gop(self) -> int:
        return max(1, int(self.fps * self.keyframe_interval_s))


class VideoEncoder:
    """One libx264 / libvpx context. Counts what it did (for tests and health)."""

    def __init__(self, settings: EncoderSettings) -> None:
        self.settings = settings
        self._ctx: av.VideoCodecContext | None = None
        self._lock = threading.Lock()
        self._frames_since_key = 0
        self.frames_in = 0
        self.keyframes_out = 0
        self.forced_keyframes = 0
        self.bytes_out = 0

    def _open(self) -> av.VideoCodecContext:
        s = self.settings
        try:
            if s.codec == "h264":
                ctx = av.CodecContext.create("libx264", "w")
                ctx.profile = "Baseline"  # constrained baseline: every browser decodes it
                ctx.options = {
                    "preset": "veryfast",
                    "tune": "zerolatency",
                    # one slice per frame, no frame threads: fewer packets, no delay
                    "x264-params": f"sliced-threads=0:keyint={s.gop}:min-keyint={s.gop}:scenecut=0"
                                   ":repeat-headers=1:aud=0",
                    "forced-idr": "1",
                    "maxrate": str(s.bitrate),
                    "bufsize": str(s.bitrate),
                    "level": "31",
                }
            else:
                ctx = av.CodecContext.create("libvpx", "w")
                ctx.options = {
                    "deadline": "realtime",
                    "cpu-used": "8",
                    "lag-in-frames": "0",
                    "error-resilient": "1",
                    "maxrate": str(s.bitrate),
                    "bufsize": str(s.bitrate),
                    "static-thresh": "1",
                }
                ctx.qmin, ctx.qmax = 4, 56
            ctx.width, ctx.height = s.width, s.height
            ctx.pix_fmt = "yuv420p"
            ctx.bit_rate = s.bitrate
            ctx.framerate = Fraction(s.fps).limit_denominator(1001)
            ctx.time_base = TIME_BASE
            ctx.gop_size = s.gop
            ctx.max_b_frames = 0
            ctx.thread_count = 1
            ctx.open()
        except av.error.FFmpegError as exc:
            raise EncoderError(f"cannot open the {s.codec} encoder: {exc}") from exc
        return ctx

    def encode(self, image: np.ndarray, pts: int, force_keyframe: bool = False) -> list[av.Packet]:
        """Encode one BGR picture with presentation time `pts` (90 kHz units)."""
        with self._lock:
            if self._ctx is None:
                self._ctx = self._open()
                force_keyframe = True
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            if frame.width != self.settings.width or frame.height != self.settings.height:
                frame = frame.reformat(self.settings.width, self.settings.height, format="yuv420p")
            else:
                frame = frame.reformat(format="yuv420p")
            frame.pts = pts
            frame.time_base = TIME_BASE
            if force_keyframe:
                frame.pict_type = av.video.frame.PictureType.I
                self.forced_keyframes += 1
            else:
                frame.pict_type = av.video.frame.PictureType.NONE
            try:
                packets = list(self._ctx.encode(frame))
            except av.error.FFmpegError as exc:
                raise EncoderError(f"{self.settings.codec} encoding failed: {exc}") from exc
            self.frames_in += 1
            for packet in packets:
                packet.time_base = TIME_BASE
                if packet.pts is None:
                    packet.pts = pts
                if packet.is_keyframe:
                    self.keyframes_out += 1
                self.bytes_out += packet.size
            return packets

    def close(self) -> None:
        with self._lock:
            self._ctx = None
