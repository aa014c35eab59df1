"""Talkback: the operator's voice from the hub, played on the hall's speaker.

The WHIP session's audio transceiver is sendrecv; what the hub sends comes
out of the receiver's track as decoded av.AudioFrames and goes to a sink.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import shutil
import subprocess
from typing import Protocol

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

log = logging.getLogger(__name__)


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


class FfmpegSpeakerSink:
    """Plays PCM on ALSA through an ffmpeg child process (writes happen in a thread)."""

    def __init__(self, device: str = "default", ffmpeg: str = "ffmpeg") -> None:
        self.device = device
        self._ffmpeg = shutil.which(ffmpeg) or ffmpeg
        self._proc: subprocess.Popen[bytes] | None = None
        self._resampler = av.AudioResampler(format="s16", layout="stereo", rate=48000)

    def _start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [self._ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "s16le", "-ar", "48000",
             "-ac", "2", "-i", "pipe:0", "-f", "alsa", self.device],
            stdin=subprocess.PIPE,
        )

    async def write(self, frame: av.AudioFrame) -> None:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = self._start()
        data = b"".join(bytes(out.planes[0]) for out in self._resampler.resample(frame))
        stdin = self._proc.stdin
        assert stdin is not None
        try:
            await asyncio.wait_for(asyncio.to_thread(stdin.write, data), 1.0)
        except (BrokenPipeError, TimeoutError):
            log.warning("speaker output stalled; restarting ffmpeg")
            await self.close()

    async def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(Exception):
                assert proc.stdin is not None
                proc.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(proc.wait, 2.0)
            if proc.poll() is None:
                proc.kill()


async def play_track(track: MediaStreamTrack, sink: AudioSink, frame_timeout_s: float = 30.0) -> None:
    """Copy a received audio track into `sink` until the track ends."""
    while True:
        try:
            frame = await asyncio.wait_for(track.recv(), frame_timeout_s)
        except (MediaStreamError, TimeoutError):
            return
        await sink.write(frame)  # type: ignore[arg-type]
