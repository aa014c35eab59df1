"""PassThroughReceiver under loss: RTP packets of a real H.264 stream, packetised
as aiortc sends them, with chosen packets lost, through the receiver's own
depacketisation and frame assembly; every frame it passes on must begin as an
access unit does, and a frame it cannot complete is reported (PLI)."""

from __future__ import annotations

import asyncio
import types

import av
import numpy as np
from aiortc.codecs.h264 import H264Encoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from hub.media.assembler import HOLD_FRAMES
from hub.media.bitstream import h264_starts_access_unit, iter_nal_units
from hub.media.passthrough import PassThroughReceiver
from tests.hub.media.peers import baseline_h264_encoder

W, H = 320, 180


def encoded_frames(n: int) -> list[bytes]:
    ctx = baseline_h264_encoder(W, H)
    rng = np.random.default_rng(3)
    out: list[bytes] = []
    for i in range(n):
        frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8),
                                           format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        out += [bytes(p) for p in ctx.encode(frame)]
    return out


def receiver() -> tuple[PassThroughReceiver, list[bytes], list[int]]:
    transport = types.SimpleNamespace(state="new")
    rx = PassThroughReceiver.adopt(PassThroughReceiver("video", transport))  # type: ignore[arg-type]
    codec = RTCRtpCodecParameters(mimeType="video/H264", clockRate=90000, payloadType=102)
    rx._pt_table[102] = (codec, False)
    rx.codec_name = "h264"
    from aiortc.codecs.h264 import h264_depayload
    rx._depayload = h264_depayload
    frames: list[bytes] = []
    plis: list[int] = []
    rx.sink = lambda data, ts: frames.append(data)

    async def pli(ssrc: int) -> None:
        plis.append(ssrc)

    async def nack(ssrc: int, missing: list[int]) -> None:
        return None

    rx._send_rtcp_pli = pli  # type: ignore[method-assign]
    rx._send_rtcp_nack = nack  # type: ignore[method-assign]
    return rx, frames, plis


def packets(units: list[bytes]) -> list[list[RtpPacket]]:
    """The RTP packets of each access unit (big ones are FU-A fragments)."""
    seq = 1000
    out = []
    for i, unit in enumerate(units):
        payloads = H264Encoder._packetize(H264Encoder._split_bitstream(unit))
        frame = []
        for k, payload in enumerate(payloads):
            frame.append(RtpPacket(payload_type=102, sequence_number=seq, timestamp=i * 6000,
                                   ssrc=1234, marker=int(k == len(payloads) - 1), payload=payload))
            seq += 1
        out.append(frame)
    return out


async def test_a_frame_whose_first_packets_were_lost_is_not_passed_on() -> None:
    rx, frames, plis = receiver()
    units = encoded_frames(4 + HOLD_FRAMES)
    rtp = packets(units)
    assert all(len(f) >= 3 for f in rtp[1:])  # every frame spans several packets
    for p in rtp[0]:
        await rx._handle_rtp_packet(p, arrival_time_ms=0)
    # frame 1 loses its marker packet: it cannot complete, and frame 2 starts unknown
    for p in rtp[1][:-1]:
        await rx._handle_rtp_packet(p, arrival_time_ms=0)
    # frame 2 loses its first packet (the FU-A start): what is left is a NAL unit's tail
    for p in rtp[2][1:]:
        await rx._handle_rtp_packet(p, arrival_time_ms=0)
    # frame 3 and the next ones arrive whole (held until the gaps are given up)
    for frame in rtp[3:]:
        for p in frame:
            await rx._handle_rtp_packet(p, arrival_time_ms=0)
    await asyncio.sleep(0)  # the keyframe requests are sent from tasks of their own
    nals = [list(iter_nal_units(f)) for f in frames]
    assert nals[0] == list(iter_nal_units(units[0])) and nals[1] == list(iter_nal_units(units[3]))
    assert all(h264_starts_access_unit(f) for f in frames), [f[:6].hex() for f in frames]
    assert len(frames) == 2 + HOLD_FRAMES and len(plis) == 2  # frames 1 and 2 lost, a keyframe asked for each
    assert rx._assembler.dropped == 2


def test_starts_access_unit() -> None:
    units = encoded_frames(2)
    assert h264_starts_access_unit(units[0]) and h264_starts_access_unit(units[1])
    assert not h264_starts_access_unit(units[1][5:])  # a fragment: no start code
    # a later slice of a picture: first_mb_in_slice is not 0 (its ue(v) code starts with 0)
    assert not h264_starts_access_unit(b"\x00\x00\x00\x01\x41\x40\x00")
    assert not h264_starts_access_unit(b"\x00\x00\x00\x01")
