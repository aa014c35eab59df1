"""The camera emulator's microphone (RFC 3640 AAC-hbr, RFC 3551 PCMA) and its picture control."""

from __future__ import annotations

import asyncio

import av
import cv2
import httpx
import numpy as np
import pytest

from firmware_stubs.camera import CameraEmulator, EmulatorSettings
from firmware_stubs.camera.rtp_audio import AudioEncoder, aac_hbr_payload, sdp_lines


def test_aac_hbr_payload_golden() -> None:
    # AU-headers-length = 16 bits; AU-header = size 5 (13 bits) << 3 | index 0
    assert aac_hbr_payload(b"\x21\x10\x05\x00\x07") == bytes.fromhex("0010" "0028") + b"\x21\x10\x05\x00\x07"
    with pytest.raises(ValueError, match="does not fit a 13-bit size"):
        aac_hbr_payload(bytes(8192))


def test_audio_sdp_lines() -> None:
    assert sdp_lines("pcma", 8000) == ["m=audio 0 RTP/AVP 8", "a=rtpmap:8 PCMA/8000", "a=control:track2"]
    aac = sdp_lines("aac", 48000, bytes.fromhex("1188"))
    assert aac[1] == "a=rtpmap:97 MPEG4-GENERIC/48000/1"
    assert "mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config=1188" in aac[2]
    with pytest.raises(ValueError, match="not pcma or aac"):
        sdp_lines("opus", 48000)


def test_pcma_units_are_20_ms() -> None:
    encoder = AudioEncoder("pcma")
    units = encoder.encode_until(0.1)
    assert len(units) == 5 and all(len(u.payload) == 160 for u in units)
    assert [u.timestamp for u in units] == [0, 160, 320, 480, 640]


async def test_rtsp_serves_video_and_audio_tracks() -> None:
    cam = CameraEmulator(EmulatorSettings(http_port=0, rtsp_port=0, audio="pcma"))
    await cam.start()
    try:
        def probe() -> tuple[str, str, int]:
            with av.open(cam.rtsp_url, options={"rtsp_transport": "tcp"}, timeout=5.0) as c:
                video, audio = c.streams.video[0], c.streams.audio[0]
                return video.codec_context.name, audio.codec_context.name, audio.codec_context.sample_rate

        assert await asyncio.to_thread(probe) == ("h264", "pcm_alaw", 8000)
    finally:
        await cam.stop()


async def test_picture_control_shows_a_still_and_goes_back() -> None:
    cam = CameraEmulator(EmulatorSettings(http_port=0, rtsp_port=0))
    await cam.start()
    red = np.zeros((90, 160, 3), np.uint8)
    red[:, :, 2] = 255
    jpeg = bytes(cv2.imencode(".jpg", red)[1])
    base = f"http://127.0.0.1:{cam.http_port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            assert (await client.put("/control/picture", content=jpeg)).status_code == 204

            async def snapshot_mean() -> np.ndarray:
                r = await client.get("/snapshot.jpg")
                image = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
                assert image.shape == (360, 640, 3)
                return np.asarray(image[:300].reshape(-1, 3).mean(axis=0))

            b, g, r_ = await snapshot_mean()
            assert r_ > 200 and b < 40 and g < 40
            assert (await client.put("/control/picture", content=b"not a jpeg")).status_code == 400
            assert (await client.delete("/control/picture")).status_code == 204
            b, g, r_ = await snapshot_mean()
            assert not (r_ > 200 and b < 40 and g < 40)  # the pattern again
            assert (await client.post("/control/nothing")).status_code == 404
    finally:
        await cam.stop()
