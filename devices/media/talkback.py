"""Talkback: the operator's voice from the hub, played on the hall's speaker.

The WHIP session's audio transceiver is sendrecv; what the hub sends comes
out of the receiver's track as decoded av.AudioFrames and goes to a sink:
`SpeakerSink` (the hall's speaker), `EnergySink` (tests), wrapped in a
`TalkbackMonitor` that tells the kiosk while the county is speaking.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from devices.camera.alsa import alsa_device, alsa_environment

log = logging.getLogger(__name__)
SPEAKER_RATE = 48000


class AudioSink(Protocol):
    async def write(self, frame: av.AudioFrame) -> None: ...

    async def close(self) -> None: ...


def frame_rms(frame: av.AudioFrame) -> float:
    """RMS of an s16 frame in 0..1 (full scale)."""
    pcm = frame.to_ndarray().astype(np.float64)
    if pcm.size == 0:
        return 0.0
    return math.sqrt(float(np.mean(pcm * pcm))) / 32768.0


class EnergySink:
    """Records what arrived: frame count, samples, RMS of each frame. For tests and the demo."""

    def __init__(self, keep: int = 500) -> None:
        self.frames = 0
        self.samples = 0
        self.rms: list[float] = []
        self._keep = keep
        self.closed = False

    async def write(self, frame: av.AudioFrame) -> None:
        self.frames += 1
        self.samples += frame.samples
        self.rms.append(frame_rms(frame))
        if len(self.rms) > self._keep:
            del self.rms[: -self._keep]

    @property
    def loud_frames(self) -> int:
        return sum(1 for r in self.rms if r > 0.01)

    async def close(self) -> None:
        self.closed = True


class SpeakerSink:
    """Plays the talkback on the hall's speaker through PyAV's ALSA output (see devices/camera/alsa.py).

    A writer thread owns the device (ALSA writes block at the speaker's pace);
    the event loop only resamples a 20 ms frame and queues it. The queue is
    short (about half a second): when the speaker lags, old audio is dropped,
    never delayed. A device that fails to open is retried every few seconds;
    after `idle_close_s` without audio the device is released.
    """

    def __init__(self, device: str = "default", *, queue_frames: int = 25, idle_close_s: float = 2.0,
                 retry_s: float = 3.0) -> None:
        alsa_environment()
        self.setting = device
        self.device = alsa_device(device)
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=queue_frames)
        self._resampler = av.AudioResampler(format="s16", layout="stereo", rate=SPEAKER_RATE)
        self._idle_close_s = idle_close_s
        self._retry_s = retry_s
        self._thread: threading.Thread | None = None
        self._closed = False
        self.state = "idle"  # idle | playing | failed
        self.last_error: str | None = None
        self.frames_played = 0
        self.frames_dropped = 0

    async def write(self, frame: av.AudioFrame) -> None:
        if self._closed:
            return
        if self.state != "playing" and frame_rms(frame) < 0.001:
            return  # an operator watching with push-to-talk up sends silence: keep the device free
        for out in self._resampler.resample(frame):
            pcm = out.to_ndarray().reshape(1, -1)
            while True:
                try:
                    self._queue.put_nowait(pcm)
                    break
                except queue.Full:
                    with contextlib.suppress(queue.Empty):
                        self._queue.get_nowait()
                        self.frames_dropped += 1
        if self._thread is None:
            self._thread = threading.Thread(target=self._play, name="speaker", daemon=True)
            self._thread.start()

    def health(self) -> dict[str, object]:
        return {"state": self.state, "device": self.setting, "error": self.last_error,
                "frames": self.frames_played, "dropped": self.frames_dropped}

    def _open(self) -> tuple[av.container.OutputContainer, av.audio.stream.AudioStream] | None:
        try:
            container = av.open(self.device, "w", format="alsa")
            stream = container.add_stream("pcm_s16le", rate=SPEAKER_RATE, layout="stereo")
        except (av.error.FFmpegError, OSError) as exc:
            if self.state != "failed":
                log.warning("cannot open the speaker %s: %s; check audio_output "
                            "(`branchlive edge --list-devices`)", self.setting, exc)
            self.state = "failed"
            self.last_error = (f"cannot open speaker {self.setting}: {exc}; check audio_output "
                               "(`branchlive edge --list-devices`)")
            return None
        self.state, self.last_error = "playing", None
        return container, stream  # type: ignore[return-value]

    def _play(self) -> None:
        output: tuple[av.container.OutputContainer, av.audio.stream.AudioStream] | None = None
        retry_at = 0.0
        pts = 0
        while True:
            try:
                pcm = self._queue.get(timeout=self._idle_close_s)
            except queue.Empty:
                pcm = None
                if not self._closed:
                    output = self._release(output)
                    if self.state == "playing":
                        self.state = "idle"
                    continue
            if pcm is None:
                self._release(output)
                return
            if output is None:
                if time.monotonic() < retry_at:
                    continue  # device failed: drop audio until the next try
                output = self._open()
                if output is None:
                    retry_at = time.monotonic() + self._retry_s
                    continue
            container, stream = output
            frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="stereo")
            frame.sample_rate = SPEAKER_RATE
            frame.pts = pts
            frame.time_base = fractions.Fraction(1, SPEAKER_RATE)
            pts += frame.samples
            try:
                for packet in stream.encode(frame):
                    container.mux(packet)
                self.frames_played += 1
            except (av.error.FFmpegError, OSError) as exc:
                if self.state != "failed":
                    log.warning("speaker %s failed: %s; check audio_output "
                                "(`branchlive edge --list-devices`)", self.setting, exc)
                self.state = "failed"
                self.last_error = (f"speaker {self.setting} failed: {exc}; check audio_output "
                                   "(`branchlive edge --list-devices`)")
                output = self._release(output)
                retry_at = time.monotonic() + self._retry_s

    @staticmethod
    def _release(output: tuple[av.container.OutputContainer, Any] | None) -> None:
        if output is not None:
            with contextlib.suppress(Exception):
                output[0].close()
        return None

    async def close(self) -> None:
        self._closed = True
        thread, self._thread = self._thread, None
        if thread is None:
            return
        while True:
            try:
                self._queue.put_nowait(None)
                break
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self._queue.get_nowait()
        await asyncio.to_thread(thread.join, 5.0)


class TalkbackMonitor:
    """Wraps a sink and tells whether the county is speaking (for the kiosk's "县里正在讲话").

    The operator's browser sends silence while push-to-talk is up, so
    "speaking" is sound above `threshold` (RMS, full scale 1.0) heard within
    the last `hold_s`; `on_change(True/False)` runs on the event loop.
    """

    def __init__(self, sink: AudioSink, *, threshold: float = 0.01, hold_s: float = 1.5,
                 on_change: Callable[[bool], None] | None = None) -> None:
        self.sink = sink
        self.threshold = threshold
        self.hold_s = hold_s
        self.on_change = on_change
        self.talking = False
        self._expire: asyncio.TimerHandle | None = None

    async def write(self, frame: av.AudioFrame) -> None:
        if frame_rms(frame) > self.threshold:
            if self._expire is not None:
                self._expire.cancel()
            self._expire = asyncio.get_running_loop().call_later(self.hold_s, self._set, False)
            self._set(True)
        await self.sink.write(frame)

    def _set(self, talking: bool) -> None:
        if talking == self.talking:
            return
        self.talking = talking
        if not talking:
            self._expire = None
        if self.on_change is not None:
            try:
                self.on_change(talking)
            except Exception:
                log.exception("talkback state listener failed")

    def health(self) -> dict[str, object]:
        inner = getattr(self.sink, "health", None)
        out: dict[str, object] = dict(inner()) if callable(inner) else {}
        out["talking"] = self.talking
        return out

    async def close(self) -> None:
        if self._expire is not None:
            self._expire.cancel()
        self._set(False)
        await self.sink.close()


async def play_track(track: MediaStreamTrack, sink: AudioSink, frame_timeout_s: float = 30.0) -> None:
    """Copy a received audio track into `sink` until the track ends."""
    while True:
        try:
            frame = await asyncio.wait_for(track.recv(), frame_timeout_s)
        except (MediaStreamError, TimeoutError):
            return
        await sink.write(frame)  # type: ignore[arg-type]
