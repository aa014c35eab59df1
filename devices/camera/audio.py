"""Blocking audio backends (microphone, IP camera, tone, file) producing 60 ms PCM chunks.

They plug into CaptureSource like the video backends, so audio gets the
same thread hand-off, health states and reopen-with-backoff. Everything is
resampled to 48 kHz mono s16; aiortc encodes it to Opus. An IP camera's
sound (AAC or G.711) is decoded here, so it reaches the hub as Opus.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import av
import numpy as np

from .alsa import alsa_device, alsa_environment, is_sound_device
from .backends import _Pacer
from .errors import CaptureError
from .frames import AudioChunk
from .pattern import tone_samples

SAMPLE_RATE = 48000
# 60 ms: one Opus packet (see devices/media/tracks.py OpusEncoder); every hand-off between
# the capture thread, the event loop and the encoder costs the same whatever its size
CHUNK_S = 0.06
CHUNK_SAMPLES = int(SAMPLE_RATE * CHUNK_S)


class _ChunkMaker:
    def __init__(self) -> None:
        self.seq = 0

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def make(self, samples: np.ndarray) -> AudioChunk:
        self.seq += 1
        return AudioChunk(samples=samples, sample_rate=SAMPLE_RATE, mono_ts=time.monotonic(), seq=self.seq)


class ToneBackend:
    """A continuous sine, paced to real time: the test signal for the hall's audio."""

    def __init__(self, frequency: float = 440.0, amplitude: float = 0.2) -> None:
        self.frequency, self.amplitude = frequency, amplitude
        self.description = f"tone {frequency:g} Hz"
        self._pacer = _Pacer(1 / CHUNK_S)
        self._position = 0
        self._maker = _ChunkMaker()

    def open(self) -> None:
        self._pacer.reset()

    def read(self) -> AudioChunk | None:
        self._pacer.wait()
        samples = tone_samples(self._position, CHUNK_SAMPLES, sample_rate=SAMPLE_RATE,
                               frequency=self.frequency, amplitude=self.amplitude)
        self._position += CHUNK_SAMPLES
        return self._maker.make(samples)

    def close(self) -> None:
        pass


class _AvAudioBackend:
    """Decode any PyAV input to 48 kHz mono s16 and cut it into 20 ms chunks."""

    def __init__(self, url: str, *, format: str | None, paced: bool, loop: bool,
                 description: str, options: dict[str, str] | None = None) -> None:
        self.url, self.format, self.loop = url, format, loop
        self.options = options or {}
        self.description = description
        self._pacer = _Pacer(1 / CHUNK_S if paced else 0)
        self._container: av.container.InputContainer | None = None
        self._frames: Iterator[Any] | None = None
        self._resampler: av.AudioResampler | None = None
        self._raw = False
        self._pending: list[np.ndarray] = []
        self._buffered = 0
        self._maker = _ChunkMaker()

    def open(self) -> None:
        try:
            self._container = av.open(self.url, format=self.format, options=self.options, timeout=5.0)
        except (av.error.FFmpegError, OSError) as exc:
            raise CaptureError(f"cannot open audio {self.url}: {exc}") from exc
        if not self._container.streams.audio:
            self.close()
            raise CaptureError(f"{self.url} has no audio stream")
        self._restart()

    def _restart(self) -> None:
        assert self._container is not None
        stream = self._container.streams.audio[0]
        ctx = stream.codec_context
        # raw 48 kHz mono s16 (what we ask ALSA for): read the packets' bytes, no decoder
        self._raw = (ctx.name == "pcm_s16le" and ctx.sample_rate == SAMPLE_RATE and ctx.channels == 1)
        self._frames = self._container.demux(stream) if self._raw else self._container.decode(stream)
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)

    def read(self) -> AudioChunk | None:
        # ALSA hands over small periods (FFmpeg asks for the smallest: 128 samples through
        # PulseAudio, 375 a second): keep the per-frame work to a list append
        while self._buffered < CHUNK_SAMPLES:
            try:
                frame = next(self._frames) if self._frames is not None else None
            except StopIteration:
                frame = None
            except av.error.FFmpegError as exc:
                raise CaptureError(f"reading audio {self.url} failed: {exc}") from exc
            if frame is None:
                if self.loop and self._container is not None:
                    self._container.seek(0)
                    self._restart()
                    continue
                return None
            if self._raw:
                if frame.size:  # a packet here
                    pcm = np.frombuffer(bytes(frame), dtype="<i2")
                    self._pending.append(pcm)
                    self._buffered += pcm.size
                continue
            assert self._resampler is not None
            for out in self._resampler.resample(frame):
                pcm = out.to_ndarray().reshape(-1)
                self._pending.append(pcm)
                self._buffered += pcm.size
        joined = np.concatenate(self._pending)
        chunk, rest = joined[:CHUNK_SAMPLES], joined[CHUNK_SAMPLES:]
        self._pending = [rest] if rest.size else []
        self._buffered = rest.size
        self._pacer.wait()
        return self._maker.make(chunk.reshape(-1, 1))

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
        self._container = None
        self._frames = None


class FileAudioBackend(_AvAudioBackend):
    def __init__(self, path: str, loop: bool = True) -> None:
        super().__init__(path, format=None, paced=True, loop=loop, description=f"audio file {path}")


class MicrophoneBackend(_AvAudioBackend):
    """The hall's microphone through ALSA (PulseAudio through ALSA's pulse plugin); see alsa.py."""

    def __init__(self, device: str = "default") -> None:
        alsa_environment()
        super().__init__(alsa_device(device), format="alsa", paced=False, loop=False,
                         description=f"microphone {device}",
                         options={"sample_rate": str(SAMPLE_RATE), "channels": "1"})

    def open(self) -> None:
        try:
            super().open()
        except CaptureError as exc:
            raise CaptureError(f"{exc}; check audio_input (`branchlive edge --list-devices` "
                               "shows the microphones)") from exc


class CameraAudioBackend(_AvAudioBackend):
    """An IP camera's own sound over its RTSP (its own session, audio only), decoded to PCM.

    G.711 is also kept as it came (one chunk per RTP packet, `encoded`), so the
    publisher can pass it on as PCMA/PCMU when the far end takes it.
    """

    G711 = {"pcm_alaw": "pcma", "pcm_mulaw": "pcmu"}

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        super().__init__(url, format=None, paced=False, loop=False, description=f"camera audio {url}",
                         options={"rtsp_transport": "tcp", "allowed_media_types": "audio",
                                  "timeout": str(int(timeout_s * 1_000_000))})
        self.codec: str | None = None  # "pcma" | "pcmu" | "aac" ... once open
        self._packets: Iterator[Any] | None = None

    def _restart(self) -> None:
        super()._restart()
        assert self._container is not None
        stream = self._container.streams.audio[0]
        name = stream.codec_context.name
        self.codec = self.G711.get(name, name)
        self._packets = self._container.demux(stream) if name in self.G711 else None

    def read(self) -> AudioChunk | None:
        if self._packets is None:
            return super().read()
        assert self._container is not None and self._resampler is not None
        ctx = self._container.streams.audio[0].codec_context
        while True:
            try:
                packet = next(self._packets)
            except StopIteration:
                return None
            except av.error.FFmpegError as exc:
                raise CaptureError(f"reading audio {self.url} failed: {exc}") from exc
            if not packet.size:
                continue
            try:
                frames = ctx.decode(packet)  # type: ignore[attr-defined]
            except av.error.FFmpegError as exc:
                raise CaptureError(f"camera audio {self.url} does not decode: {exc}") from exc
            pcm = [out.to_ndarray().reshape(-1) for f in frames for out in self._resampler.resample(f)]
            if not pcm:
                continue
            samples = np.concatenate(pcm).reshape(-1, 1)
            return AudioChunk(samples=samples, sample_rate=SAMPLE_RATE, mono_ts=time.monotonic(),
                              seq=self._maker.next_seq(), encoded=bytes(packet), codec=self.codec)


AudioBackend = ToneBackend | FileAudioBackend | MicrophoneBackend | CameraAudioBackend


def audio_backend_for(spec: str, camera_url: str | None = None) -> AudioBackend:
    """"default" | "pulse:<source>" | "alsa:<device>" | "camera" | "tone" | "tone:880" | a file.

    ("mic" and "mic:<alsa device>" are still read as the ALSA microphone.)
    """
    if spec == "tone" or spec.startswith("tone:"):
        _, _, freq = spec.partition(":")
        return ToneBackend(float(freq) if freq else 440.0)
    if is_sound_device(spec):
        return MicrophoneBackend(spec)
    if spec == "mic" or spec.startswith("mic:"):
        _, _, device = spec.partition(":")
        return MicrophoneBackend(f"alsa:{device}" if device else "default")
    if spec == "camera":
        if not camera_url or not camera_url.startswith("rtsp://"):
            raise ValueError("audio_input = camera needs an rtsp:// camera_source")
        return CameraAudioBackend(camera_url)
    return FileAudioBackend(spec)
