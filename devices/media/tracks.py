"""aiortc MediaStreamTracks fed by the capture sources.

- `EncodedVideoTrack`: raw frames -> our VideoEncoder (in a thread) -> av.Packet.
- `PassthroughVideoTrack`: an IP camera's H.264 packets, never decoded.
- `SourceAudioTrack`: 60 ms PCM chunks -> Opus packets (or frames aiortc encodes).

Both video tracks hand aiortc av.Packet objects, so RTCRtpSender takes its
pre-encoded path (`encoder.pack()`), and its own encoder never runs.
A new track is built for every WebRTC session (aiortc stops a sender's
track when the sender stops); the sources and the encoder outlive them.
"""

from __future__ import annotations

import asyncio
import collections
import fractions
import logging
import time
from typing import Any

import av
import cv2
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from devices.camera.frames import AudioChunk, CapturedFrame
from devices.camera.source import CaptureSource, Subscription

from .encoder import TIME_BASE, VIDEO_CLOCK, EncoderSettings, VideoEncoder

log = logging.getLogger(__name__)

AUDIO_RATE = 48000
AUDIO_CHUNK = 2880  # 60 ms, as devices/camera/audio.py cuts it


def no_signal_image(width: int, height: int, text: str = "NO SIGNAL") -> np.ndarray:
    """What viewers see while the camera is gone: says so, with the time, instead of freezing."""
    image = np.full((height, width, 3), 40, dtype=np.uint8)
    stamp = time.strftime("%H:%M:%S")
    scale = max(0.6, height / 240)
    cv2.putText(image, text, (width // 10, height // 2), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (0, 200, 255), 2, cv2.LINE_AA)
    cv2.putText(image, stamp, (width // 10, height // 2 + int(40 * scale)), cv2.FONT_HERSHEY_SIMPLEX,
                scale * 0.7, (255, 255, 255), 2, cv2.LINE_AA)
    return image


class EncodedVideoTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self, source: CaptureSource[CapturedFrame], encoder: VideoEncoder, *,
                 no_signal_after_s: float = 2.0) -> None:
        super().__init__()
        self.encoder = encoder
        self._sub: Subscription[CapturedFrame] = source.subscribe(maxsize=2)
        self._pending: collections.deque[av.Packet] = collections.deque()
        self._keyframe_wanted = True
        self._t0: float | None = None
        self._last_pts = -1
        self._last_sent_mono = 0.0
        self._no_signal_after_s = no_signal_after_s
        self.keyframe_requests = 0
        self.packets_sent = 0
        self.keyframes_sent = 0

    @property
    def settings(self) -> EncoderSettings:
        return self.encoder.settings

    def request_keyframe(self) -> None:
        """Make the next encoded frame a keyframe (a viewer joined, or a PLI/FIR arrived)."""
        self.keyframe_requests += 1
        self._keyframe_wanted = True

    async def _next_image(self) -> tuple[np.ndarray, float]:
        min_gap = 0.8 / self.settings.fps
        while True:
            try:
                frame = await self._sub.get(timeout=self._no_signal_after_s)
            except TimeoutError:
                s = self.settings
                return no_signal_image(s.width, s.height), time.monotonic()
            except EOFError:
                raise MediaStreamError from None
            if frame.mono_ts - self._last_sent_mono >= min_gap:
                self._last_sent_mono = frame.mono_ts
                return frame.image, frame.mono_ts

    async def recv(self) -> av.Packet:  # type: ignore[override]
        while not self._pending:
            if self.readyState != "live":
                raise MediaStreamError
            image, mono = await self._next_image()
            if self._t0 is None:
                self._t0 = mono
            pts = max(self._last_pts + 1, int((mono - self._t0) * VIDEO_CLOCK))
            self._last_pts = pts
            force, self._keyframe_wanted = self._keyframe_wanted, False
            packets = await asyncio.to_thread(self.encoder.encode, image, pts, force)
            self._pending.extend(packets)
        packet = self._pending.popleft()
        self.packets_sent += 1
        if packet.is_keyframe:
            self.keyframes_sent += 1
        return packet

    def stop(self) -> None:
        self._sub.close()
        super().stop()


class PassthroughVideoTrack(MediaStreamTrack):
    """Forwards an IP camera's encoded packets; starts at a keyframe; keeps timestamps monotonic."""

    kind = "video"

    def __init__(self, source: CaptureSource[av.Packet], *, frame_period_s: float = 1 / 15) -> None:
        super().__init__()
        self._sub: Subscription[av.Packet] = source.subscribe(maxsize=30)
        self._started = False
        self._offset = 0  # added to the camera's pts, in 90 kHz units
        self._last_in: int | None = None
        self._last_out = -1
        self._step = int(frame_period_s * VIDEO_CLOCK)
        self.keyframe_requests = 0
        self.packets_sent = 0
        self.keyframes_sent = 0

    def request_keyframe(self) -> None:
        # An RTSP camera cannot be asked for an IDR in any standard way; its
        # own GOP (set it to <= 2 s in the camera) bounds a viewer's wait.
        self.keyframe_requests += 1

    async def recv(self) -> av.Packet:  # type: ignore[override]
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            try:
                packet = await self._sub.get()
            except EOFError:
                raise MediaStreamError from None
            if not self._started:
                if not packet.is_keyframe:
                    continue
                self._started = True
            break
        assert packet.pts is not None and packet.time_base is not None
        pts = int(packet.pts * packet.time_base * VIDEO_CLOCK)
        if self._last_in is None or pts < self._last_in or pts - self._last_in > 5 * VIDEO_CLOCK:
            # first packet, or the camera restarted its clock: continue ours
            self._offset = self._last_out + self._step - pts
        self._last_in = pts
        out = max(self._last_out + 1, pts + self._offset)
        self._last_out = out
        packet.pts = out
        packet.dts = out
        packet.time_base = TIME_BASE
        self.packets_sent += 1
        if packet.is_keyframe:
            self.keyframes_sent += 1
        return packet

    def stop(self) -> None:
        self._sub.close()
        super().stop()


class OpusEncoder:
    """Mono speech Opus (libopus through PyAV), `frame_ms` per packet: what the hall sends.

    We encode ourselves and hand aiortc packets (its pre-encoded path):
    aiortc's own audio path computes an RFC 6465 audio level for every
    20 ms frame in a pure-Python loop over the samples; the hub reads no
    audio-level extension anyway. 60 ms packets (Opus allows 2.5 to 60)
    send a third of the packets of 20 ms ones: each RTP packet costs the
    edge and the hub far more (aiortc's per-packet Python, SRTP, a UDP
    syscall) than the bits in it, and a meeting hall does not need a
    telephone's last 40 ms of latency.
    """

    def __init__(self, bitrate: int = 32000, frame_ms: int = 60) -> None:
        self.frame_samples = AUDIO_RATE * frame_ms // 1000
        ctx: Any = av.CodecContext.create("libopus", "w")
        ctx.sample_rate = AUDIO_RATE
        ctx.layout = "mono"
        ctx.format = "s16"
        ctx.bit_rate = bitrate
        ctx.time_base = fractions.Fraction(1, AUDIO_RATE)
        ctx.options = {"application": "voip", "frame_duration": str(frame_ms)}
        ctx.open()
        self._ctx = ctx
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE,
                                            frame_size=self.frame_samples)

    def encode(self, samples: np.ndarray) -> list[bytes]:
        """Blocking: PCM (int16, (n, channels)) in, zero or more Opus packets out."""
        layout = "mono" if samples.shape[1] == 1 else "stereo"
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout=layout)
        frame.sample_rate = AUDIO_RATE
        return [bytes(packet) for block in self._resampler.resample(frame)
                for packet in self._ctx.encode(block)]


class SourceAudioTrack(MediaStreamTrack):
    """PCM from an audio source; silence while the source is quiet so the far end keeps hearing.

    The far end's codec comes from the SDP answer (`use_codec`): Opus is
    encoded here (see OpusEncoder), in a thread; G.711 chunks that an IP
    camera sent in the codec the far end took go out as they came, never
    decoded and re-encoded. Without `use_codec` (or for another codec)
    the track gives PCM frames and aiortc encodes them.
    """

    kind = "audio"

    def __init__(self, source: CaptureSource[AudioChunk]) -> None:
        super().__init__()
        self._sub: Subscription[AudioChunk] = source.subscribe(maxsize=10)
        self._samples_out = 0  # at 48 kHz: one clock for PCM frames and packets
        self._start: float | None = None
        self._pending: collections.deque[av.Packet] = collections.deque()
        self._opus: OpusEncoder | None = None
        self._opus_pts = 0
        self.passthrough: str | None = None
        self.packets_passed = 0

    def use_codec(self, codec: str | None) -> None:
        """The codec the far end accepted for this track (from the SDP answer)."""
        self.passthrough = codec if codec in ("pcma", "pcmu") else None
        self._opus = OpusEncoder() if codec == "opus" else None

    async def _next(self) -> tuple[np.ndarray, AudioChunk | None]:
        if self._start is None:
            self._start = time.monotonic()
        try:
            chunk = await self._sub.get(timeout=0.2)
            return chunk.samples, chunk
        except TimeoutError:
            # keep real-time pacing for the silence we make up
            due = self._start + self._samples_out / AUDIO_RATE
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            return np.zeros((AUDIO_CHUNK, 1), dtype=np.int16), None
        except EOFError:
            raise MediaStreamError from None

    async def recv(self) -> av.AudioFrame | av.Packet:  # type: ignore[override]
        while not self._pending:
            if self.readyState != "live":
                raise MediaStreamError
            samples, chunk = await self._next()
            if (chunk is not None and chunk.encoded is not None and self.passthrough is not None
                    and chunk.codec == self.passthrough):
                packet = av.Packet(chunk.encoded)  # G.711: one byte per sample at 8 kHz
                packet.pts = self._samples_out // 6
                packet.time_base = fractions.Fraction(1, 8000)
                self._samples_out += len(chunk.encoded) * 6
                self.packets_passed += 1
                return packet
            self._samples_out += samples.shape[0]
            if self._opus is not None:
                for data in await asyncio.to_thread(self._opus.encode, samples):
                    packet = av.Packet(data)
                    packet.pts = self._opus_pts
                    packet.time_base = fractions.Fraction(1, AUDIO_RATE)
                    self._opus_pts += self._opus.frame_samples
                    self._pending.append(packet)
                continue
            layout = "mono" if samples.shape[1] == 1 else "stereo"
            frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout=layout)
            frame.sample_rate = AUDIO_RATE
            frame.pts = self._samples_out - samples.shape[0]
            frame.time_base = fractions.Fraction(1, AUDIO_RATE)
            return frame
        return self._pending.popleft()

    def stop(self) -> None:
        self._sub.close()
        super().stop()
