"""The hall's sound: microphone and speaker settings, ALSA/PulseAudio capture and playback on a
real (private) PulseAudio server, the talkback monitor, and an IP camera's own sound and
keyframe pictures in pass-through (against the RTSP camera emulator)."""

from __future__ import annotations

import asyncio
import fractions
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import httpx
import numpy as np
import pytest
from pydantic import SecretStr, ValidationError
from skimage import data

from devices.camera.alsa import alsa_device, format_devices, list_devices
from devices.camera.audio import (
    CHUNK_SAMPLES,
    CameraAudioBackend,
    MicrophoneBackend,
    ToneBackend,
    audio_backend_for,
)
from devices.camera.frames import AudioChunk
from devices.camera.source import CaptureSource
from devices.config import load_settings
from devices.media import EdgeMedia, EnergySink, MediaSettings, PublisherSettings, VideoSettings
from devices.media.keyframes import decode_keyframe
from devices.media.talkback import SpeakerSink, TalkbackMonitor
from firmware_stubs.camera import CameraEmulator, EmulatorSettings
from tests.devices.media.whip_receiver import WhipReceiver, wait_for
from tests.e2e.hallsound import PulseServer, TonePlayer, listen, peak

# ---- settings ------------------------------------------------------------------------------


def test_a_real_agent_listens_to_the_system_microphone_by_default(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    assert (settings.audio_input, settings.audio_output) == ("default", "default")
    media = MediaSettings()
    assert media.audio_source == "default" and media.speaker == "default"
    assert MediaSettings(audio_source="none").audio_source is None
    with pytest.raises(ValidationError, match="pulse:<sink>"):
        MediaSettings(speaker="alsa")


def test_device_settings_map_to_alsa_names() -> None:
    assert alsa_device("default") == "default"
    assert alsa_device("pulse:hall_mic.monitor") == "pulse:hall_mic.monitor"
    assert alsa_device("alsa:plughw:1,0") == "plughw:1,0"
    with pytest.raises(ValueError, match="alsa: needs a device name"):
        alsa_device("alsa:")
    assert isinstance(audio_backend_for("tone:880"), ToneBackend)
    mic = audio_backend_for("alsa:hw:1,0")
    assert isinstance(mic, MicrophoneBackend) and mic.url == "hw:1,0"
    assert isinstance(audio_backend_for("camera", "rtsp://cam/stream"), CameraAudioBackend)
    with pytest.raises(ValueError, match="rtsp:// camera"):
        audio_backend_for("camera", "pattern")


def test_list_devices_names_the_settings() -> None:
    text = format_devices(list_devices())
    for heading in ("Cameras (camera_source):", "Microphones (audio_input):", "Speakers (audio_output):"):
        assert heading in text


# ---- a private PulseAudio server ---------------------------------------------------------------


@pytest.fixture
def pulse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PulseServer]:
    if not PulseServer.available():
        pytest.skip("needs Debian's pulseaudio")
    server = PulseServer(tmp_path / "pulse").start()
    monkeypatch.setenv("PULSE_SERVER", server.server)
    try:
        yield server
    finally:
        server.stop()


async def test_microphone_hears_the_room(pulse: PulseServer) -> None:
    source: CaptureSource[AudioChunk] = CaptureSource(lambda: MicrophoneBackend("pulse:hall_mic.monitor"))
    chunks: list[AudioChunk] = []
    with TonePlayer("pulse:hall_mic", 700.0) as tone:
        await source.start()
        sub = source.subscribe(maxsize=500)
        try:
            def heard() -> bool:
                samples = np.concatenate([c.samples.reshape(-1) for c in chunks[-50:]]) if chunks else None
                if samples is None or samples.size < 48000:
                    return False
                hz, rms = peak(samples.astype(np.float64))
                return abs(hz - 700) < 10 and rms > 0.05

            while not heard():
                chunks.append(await sub.get(timeout=10))
        finally:
            sub.close()
            await source.stop()
        assert tone.error is None
    assert all(c.samples.shape == (CHUNK_SAMPLES, 1) and c.sample_rate == 48000 for c in chunks)
    assert source.health.description == "microphone pulse:hall_mic.monitor"


def _frame(hz: float, n: int, amplitude: float = 0.3) -> av.AudioFrame:
    t = (n * 960 + np.arange(960)) / 48000
    pcm = (amplitude * 32767 * np.sin(2 * np.pi * hz * t)).astype(np.int16).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
    frame.sample_rate, frame.pts, frame.time_base = 48000, n * 960, fractions.Fraction(1, 48000)
    return frame


async def test_speaker_plays_talkback_on_the_output_device(pulse: PulseServer) -> None:
    sink = SpeakerSink("pulse:hall_speaker")
    stop = asyncio.Event()

    async def talk() -> None:
        n = 0
        while not stop.is_set():  # paced like the hub's 20 ms frames
            await sink.write(_frame(1000.0, n))
            n += 1
            await asyncio.sleep(0.02)

    task = asyncio.create_task(talk())
    try:
        for _ in range(60):
            hz, rms = peak(await asyncio.to_thread(listen, "pulse:hall_speaker.monitor", 0.5))
            if abs(hz - 1000) < 15 and rms > 0.05:
                break
        else:
            raise AssertionError(f"the speaker never played the tone (last {hz:.0f} Hz, rms {rms:.3f})")
        assert sink.health()["state"] == "playing"
    finally:
        stop.set()
        await task
        await sink.close()


async def test_a_missing_speaker_is_reported_not_raised() -> None:
    sink = SpeakerSink("alsa:no-such-device")
    try:
        for n in range(5):
            await sink.write(_frame(1000.0, n))
        await wait_for(lambda: sink.state == "failed", what="the speaker failure")
        assert "speaker alsa:no-such-device" in (sink.last_error or "")
        assert "check audio_output" in (sink.last_error or "")
    finally:
        await sink.close()


async def test_talkback_monitor_follows_the_operators_voice() -> None:
    changes: list[bool] = []
    inner = EnergySink()
    monitor = TalkbackMonitor(inner, hold_s=0.3, on_change=changes.append)
    for n in range(10):
        await monitor.write(_frame(1000.0, n, amplitude=0.0))  # push-to-talk up: silence
    assert not monitor.talking and changes == []
    for n in range(10):
        await monitor.write(_frame(1000.0, n))
    assert monitor.talking and changes == [True]
    await wait_for(lambda: not monitor.talking, what="the end of talkback")
    assert changes == [True, False] and inner.frames == 20
    assert monitor.health()["talking"] is False
    await monitor.close()


# ---- an IP camera in pass-through ---------------------------------------------------------------


@pytest.fixture
async def camera() -> Iterator[CameraEmulator]:  # type: ignore[misc]
    cam = CameraEmulator(EmulatorSettings(http_port=0, rtsp_port=0, audio="aac", tone_hz=600.0, gop_s=1.0))
    await cam.start()
    yield cam
    await cam.stop()


def _people_jpeg() -> bytes:
    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    return bytes(cv2.imencode(".jpg", np.hstack([astronaut, astronaut]))[1])


@pytest.mark.parametrize("codec", ["pcma", "aac"])
async def test_camera_sound_is_decoded_on_the_edge(codec: str) -> None:
    cam = CameraEmulator(EmulatorSettings(http_port=0, rtsp_port=0, audio=codec, tone_hz=1000.0))
    await cam.start()
    try:
        def read() -> np.ndarray:
            backend = CameraAudioBackend(cam.rtsp_url)
            backend.open()
            try:
                chunks = [backend.read() for _ in range(60)]
            finally:
                backend.close()
            return np.concatenate([c.samples.reshape(-1) for c in chunks if c is not None])

        samples = await asyncio.to_thread(read)
    finally:
        await cam.stop()
    hz, rms = peak(samples[48000 // 5:].astype(np.float64))
    assert abs(hz - 1000) < 10 and rms > 0.05, (hz, rms)


async def test_passthrough_thumbnails_headcount_and_camera_audio(camera: CameraEmulator,
                                                                receiver: WhipReceiver) -> None:
    results = []
    media = EdgeMedia(
        MediaSettings(video=VideoSettings(source=camera.rtsp_url, mode="passthrough"),
                      audio_source="camera", thumbnail_interval_s=0.5, headcount_interval_s=0),
        on_analysis=results.append, talkback_sink=EnergySink())
    await media.start()
    try:
        await wait_for(lambda: len(results) >= 2, what="thumbnails from keyframes")
        assert results[-1].thumbnail_jpeg[:2] == b"\xff\xd8" and results[-1].headcount == 0
        async with httpx.AsyncClient() as client:
            url = f"http://127.0.0.1:{camera.http_port}/control/picture"
            assert (await client.put(url, content=_people_jpeg())).status_code == 204
            await wait_for(lambda: (results[-1].headcount or 0) >= 2, what="people counted")
            assert (await client.delete(url)).status_code == 204
            await wait_for(lambda: results[-1].headcount == 0, what="the room empty again")
        await media.start_publishing(PublisherSettings(whip_url=receiver.url, token=SecretStr("device-token")))
        await wait_for(lambda: receiver.video_frames > 10, what="video at the receiver")
        await wait_for(lambda: sum(s.audio_frames for s in receiver.sessions) > 50,
                       what="the camera's sound at the receiver")
        health = media.health()
        assert health["microphone"]["state"] == "live"
        assert health["microphone"]["source"] == f"camera audio {camera.rtsp_url}"
        assert media.keyframes is not None and media.keyframes.decoded >= 2
    finally:
        await media.stop()


async def test_a_keyframe_decodes_on_its_own(camera: CameraEmulator) -> None:
    from devices.camera.backends import EncodedPacketBackend

    def first_keyframe() -> bytes:
        backend = EncodedPacketBackend(camera.rtsp_url)
        backend.open()
        try:
            while True:
                packet = backend.read()
                assert packet is not None
                if packet.is_keyframe:
                    return bytes(packet)
        finally:
            backend.close()

    data_ = await asyncio.to_thread(first_keyframe)
    frame = decode_keyframe(data_)
    assert frame is not None and frame.image.shape == (360, 640, 3)
    assert decode_keyframe(b"\x00\x00\x01\x09garbage") is None


async def test_camera_g711_passes_through_when_the_far_end_takes_it(receiver: WhipReceiver) -> None:
    cam = CameraEmulator(EmulatorSettings(http_port=0, rtsp_port=0, audio="pcma", tone_hz=1000.0))
    await cam.start()
    media = EdgeMedia(
        MediaSettings(video=VideoSettings(source=cam.rtsp_url, mode="passthrough"), audio_source="camera"),
        talkback_sink=EnergySink())
    try:
        await media.start()
        assert media.audio is not None
        await wait_for(lambda: media.audio.latest is not None and media.audio.latest.codec == "pcma",
                       what="the camera's G.711")
        assert media._audio_codecs() == ("pcma", "opus")
        publisher = await media.start_publishing(
            PublisherSettings(whip_url=receiver.url, token=SecretStr("device-token")))
        await wait_for(lambda: sum(s.audio_frames for s in receiver.sessions) > 50,
                       what="the camera's sound at the receiver")
        session = publisher._session
        assert session is not None
        track = next(t.sender.track for t in session.pc.getTransceivers() if t.kind == "audio")
        assert track.passthrough == "pcma" and track.packets_passed > 50
    finally:
        await media.stop()
        await cam.stop()


def test_sound_faults_reach_the_kiosk_list() -> None:
    from devices.agent.faults import collect_faults

    faults = collect_faults({"microphone": {"state": "lost", "error": "cannot open audio default"},
                             "speaker": {"state": "failed", "error": "speaker default failed"}})
    assert [f["code"] for f in faults] == ["microphone_lost", "speaker_failed"]
    assert "麦克风" in faults[0]["zh"] and "cannot open audio default" in faults[0]["en"]
    assert collect_faults({"microphone": {"state": "live"}, "speaker": {"state": "idle"}}) == []
