"""The camera emulator: RTP/H.264 packetization (golden, RFC 6184), RTSP messages, live serving, CLI."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys

import av
import httpx
import pytest

from firmware_stubs.camera import CameraEmulator, EmulatorSettings
from firmware_stubs.camera.rtp_h264 import (
    packetize_nal,
    rtp_header,
    split_annexb,
    sprop_parameter_sets,
)
from firmware_stubs.camera.rtsp import format_response, interleaved, parse_request


def test_split_annexb_3_and_4_byte_start_codes() -> None:
    stream = b"\x00\x00\x00\x01\x67\x42\x00\x00\x01\x68\xce\x00\x00\x00\x01\x65\x88"
    assert split_annexb(stream) == [b"\x67\x42", b"\x68\xce", b"\x65\x88"]


def test_fu_a_fragments_per_rfc6184() -> None:
    nal = bytes([0x65]) + bytes(range(10))  # IDR slice, nri=3
    assert packetize_nal(nal, max_payload=20) == [nal]
    frags = packetize_nal(nal, max_payload=6)
    # FU indicator: F|NRI of the NAL, type 28 -> 0x7C; FU header S/E bits + type 5
    assert frags == [b"\x7c\x85\x00\x01\x02\x03", b"\x7c\x05\x04\x05\x06\x07",
                     b"\x7c\x45\x08\x09"]


def test_rtp_header_golden() -> None:
    # V=2, M=1, PT=96, seq=0x1234, ts=0x01020304, ssrc=0xdeadbeef
    assert rtp_header(payload_type=96, sequence=0x1234, timestamp=0x01020304, ssrc=0xDEADBEEF,
                      marker=True) == bytes.fromhex("80e01234" "01020304" "deadbeef")
    with pytest.raises(ValueError, match="RTP payload type 128 is outside 0..127"):
        rtp_header(payload_type=128, sequence=0, timestamp=0, ssrc=0, marker=False)


def test_sprop_parameter_sets() -> None:
    sps, pps = b"\x67\x42\xc0\x1f", b"\x68\xce\x3c\x80"
    assert sprop_parameter_sets([sps, pps, b"\x65\x00"]) == (
        f"{base64.b64encode(sps).decode()},{base64.b64encode(pps).decode()}")
    assert sprop_parameter_sets([sps]) is None


def test_rtsp_request_and_response() -> None:
    req = parse_request(b"SETUP rtsp://h/stream/track1 RTSP/1.0\r\nCSeq: 3\r\n"
                        b"Transport: RTP/AVP/TCP;unicast;interleaved=0-1")
    assert (req.method, req.cseq, req.headers["transport"]) == (
        "SETUP", "3", "RTP/AVP/TCP;unicast;interleaved=0-1")
    assert format_response(200, "OK", "3", {"Session": "1"}) == (
        b"RTSP/1.0 200 OK\r\nCSeq: 3\r\nServer: branchlive-camera-emulator\r\nSession: 1\r\n\r\n")
    assert interleaved(0, b"ab") == b"$\x00\x00\x02ab"
    with pytest.raises(ValueError, match="RTSP request line is invalid"):
        parse_request(b"GET / HTTP/1.1")


async def test_serves_mjpeg_snapshot_and_rtsp() -> None:
    camera = CameraEmulator(EmulatorSettings(http_port=0, rtsp_port=0, width=320, height=180))
    await camera.start()
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            snap = await client.get(camera.snapshot_url)
            assert snap.status_code == 200 and snap.content[:2] == b"\xff\xd8"
            missing = await client.get(f"http://127.0.0.1:{camera.http_port}/nope")
            assert missing.status_code == 404

        def read_rtsp() -> tuple[int, int, bool]:
            with av.open(camera.rtsp_url, options={"rtsp_transport": "tcp", "timeout": "5000000"},
                         timeout=10) as container:
                frames = []
                for frame in container.decode(video=0):
                    frames.append(frame)
                    if len(frames) == 5:
                        break
                return frames[0].width, frames[0].height, container.streams.video[0].codec_context.name == "h264"

        assert await asyncio.to_thread(read_rtsp) == (320, 180, True)
    finally:
        await camera.stop()


def test_cli_prints_urls_and_rejects_bad_size() -> None:
    from firmware_stubs.camera.cli import main

    assert main(["--size", "big"]) == 2
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from firmware_stubs.camera.cli import main; "
         "sys.exit(main(['--http-port', '0', '--rtsp-port', '0']))"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert lines[0].startswith("MJPEG:    http://127.0.0.1:")
    assert lines[2].startswith("RTSP:     rtsp://127.0.0.1:")
    assert proc.returncode == 0
