"""Capture sources: pattern, file, MJPEG and RTSP from the emulator; black, lost, stalled, reopen."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import av
import numpy as np

from devices.camera import (
    CapturedFrame,
    CaptureSource,
    EncodedPacketBackend,
    MjpegHttpBackend,
    PatternBackend,
    PyAvBackend,
    SourceSettings,
    SourceState,
    ToneBackend,
    backend_for,
    render_pattern,
)
from devices.camera.audio import CHUNK_SAMPLES
from firmware_stubs.camera import CameraEmulator, EmulatorSettings


async def wait_for(predicate, timeout: float = 30.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def take(source: CaptureSource, n: int) -> list:
    sub = source.subscribe(maxsize=n)
    await source.start()
    try:
        return [await sub.get(timeout=20) for _ in range(n)]
    finally:
        sub.close()


async def test_pattern_source_yields_timestamped_frames() -> None:
    source = CaptureSource(lambda: PatternBackend(640, 360, 30))
    frames = await take(source, 5)
    await source.stop()
    assert all(isinstance(f, CapturedFrame) and f.image.shape == (360, 640, 3) for f in frames)
    assert [f.seq for f in frames] == sorted(f.seq for f in frames)
    assert frames[0].mono_ts < frames[-1].mono_ts
    assert source.health.items >= 5
    assert source.state == SourceState.STOPPED


async def test_file_source_loops(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        for i in range(6):
            frame = av.VideoFrame.from_ndarray(render_pattern(320, 180, time.time(), i), format="bgr24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    source = CaptureSource(lambda: backend_for(str(path)))
    frames = await take(source, 14)  # more than the file holds: it loops
    await source.stop()
    assert all(f.image.shape == (180, 320, 3) for f in frames)
    assert source.health.reopens == 0


async def test_mjpeg_and_rtsp_from_emulator() -> None:
    camera = CameraEmulator(EmulatorSettings(http_port=0, rtsp_port=0, width=640, height=360))
    await camera.start()
    try:
        mjpeg = CaptureSource(lambda: MjpegHttpBackend(camera.mjpeg_url))
        frames = await take(mjpeg, 5)
        await mjpeg.stop()
        assert frames[-1].image.shape == (360, 640, 3)

        rtsp = CaptureSource(lambda: PyAvBackend(camera.rtsp_url))
        frames = await take(rtsp, 5)
        await rtsp.stop()
        assert frames[-1].image.shape == (360, 640, 3)
        # the clock overlay survived the trip: the centre holds white text on black
        centre = frames[-1].image[150:210, 200:440]
        assert centre.max() > 200 and centre.min() < 40

        packets = CaptureSource(lambda: EncodedPacketBackend(camera.rtsp_url))
        items = await take(packets, 20)
        await packets.stop()
        assert all(isinstance(p, av.Packet) for p in items)
        keyframe = next(p for p in items if p.is_keyframe)
        assert bytes(keyframe)[:4] in (b"\x00\x00\x00\x01", b"\x00\x00\x01\x67")
    finally:
        await camera.stop()


async def test_black_picture_is_reported() -> None:
    backends: list[PatternBackend] = []

    def make() -> PatternBackend:
        backends.append(PatternBackend(320, 180, 30))
        return backends[-1]

    source = CaptureSource(make, SourceSettings(black_after_s=0.3))
    await source.start()
    await wait_for(lambda: source.state == SourceState.LIVE, what="LIVE")
    backends[-1].black = True
    await wait_for(lambda: source.state == SourceState.BLACK, what="BLACK")
    assert source.health.luma is not None and source.health.luma < 12
    backends[-1].black = False
    await wait_for(lambda: source.state == SourceState.LIVE, what="LIVE again")
    await source.stop()


async def test_camera_that_disappears_is_reopened() -> None:
    camera = CameraEmulator(EmulatorSettings(http_port=0, rtsp_port=0, width=320, height=180))
    await camera.start()
    port = camera.http_port
    states: list[SourceState] = []
    source = CaptureSource(lambda: MjpegHttpBackend(f"http://127.0.0.1:{port}/video.mjpg", timeout_s=2),
                           SourceSettings(backoff_base_s=0.1, backoff_cap_s=0.5),
                           on_state=lambda h: states.append(h.state))
    sub = source.subscribe()
    await source.start()
    await sub.get(timeout=20)
    await camera.stop()  # unplugged
    await wait_for(lambda: source.state in (SourceState.LOST, SourceState.OPENING), what="LOST")
    assert source.health.last_error
    camera = CameraEmulator(EmulatorSettings(http_port=port, rtsp_port=0, width=320, height=180))
    await camera.start()  # back
    try:
        await wait_for(lambda: source.state == SourceState.LIVE and source.health.reopens >= 1,
                       what="LIVE after reopen")
        assert SourceState.LOST in states
        await sub.get(timeout=20)
    finally:
        await source.stop()
        await camera.stop()


class _FreezingBackend:
    """Delivers a few frames, then read() blocks (a wedged driver) until close."""

    description = "freezing"

    def __init__(self) -> None:
        self.n = 0

    def open(self) -> None:
        pass

    def read(self) -> CapturedFrame | None:
        self.n += 1
        if self.n > 3:
            time.sleep(0.6)  # like a driver's read timeout expiring
            return None
        time.sleep(0.02)
        return CapturedFrame(np.full((180, 320, 3), 128, np.uint8), time.time(), time.monotonic(), self.n)

    def close(self) -> None:
        pass


async def test_stalled_source_is_detected() -> None:
    source = CaptureSource(_FreezingBackend, SourceSettings(stall_after_s=0.3, backoff_base_s=5))
    states: list[SourceState] = []
    source._on_state = lambda h: states.append(h.state)
    await source.start()
    await wait_for(lambda: SourceState.STALLED in states, what="STALLED")
    await wait_for(lambda: source.health.reopens >= 1, what="reopen after the stall")
    assert states.index(SourceState.STALLED) < len(states) - 1  # it moved on from STALLED
    await source.stop()


async def test_slow_consumer_loses_oldest_frames_only() -> None:
    source = CaptureSource(lambda: PatternBackend(320, 180, 60))
    slow = source.subscribe(maxsize=2)
    fast = source.subscribe(maxsize=100)
    await source.start()
    got = [await fast.get(timeout=10) for _ in range(10)]
    first_slow = await slow.get(timeout=10)
    await source.stop()
    assert slow.dropped > 0
    assert first_slow.seq > got[0].seq  # the old ones went, the newest stayed


async def test_tone_source() -> None:
    source = CaptureSource(ToneBackend)
    chunks = await take(source, 3)
    await source.stop()
    assert all(c.samples.shape == (CHUNK_SAMPLES, 1) and c.sample_rate == 48000 for c in chunks)
    assert np.abs(chunks[1].samples).max() > 1000


async def test_audio_file_source_resamples_to_48k_mono(tmp_path: Path) -> None:
    from devices.camera import FileAudioBackend, tone_samples

    path = tmp_path / "hall.wav"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=16000, layout="stereo")
        pcm = tone_samples(0, 16000, sample_rate=16000, channels=2).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="stereo")
        frame.sample_rate = 16000
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    source = CaptureSource(lambda: FileAudioBackend(str(path)))
    chunks = await take(source, 5)
    await source.stop()
    assert all(c.samples.shape == (CHUNK_SAMPLES, 1) and c.sample_rate == 48000 for c in chunks)
    assert np.abs(chunks[-1].samples).max() > 1000
