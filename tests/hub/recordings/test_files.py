"""SegmentWriter keeps the stream's own H.264 parameter sets in the file header.

Under packet loss a segment's first keyframe can arrive without its in-band
SPS/PPS (they travel in one RTP packet of their own); a decoder then has only
the avcC to go by, and every frame of the segment must decode with it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from hub.media.bitstream import H264_NAL_PPS, H264_NAL_SPS, h264_parameter_sets, iter_nal_units
from hub.recordings.files import SegmentSpec, SegmentWriter
from tests.hub.media.peers import baseline_h264_encoder, encode_random_frames

W, H = 320, 180


def baseline_stream(frames: int) -> list[bytes]:
    """Annex-B access units of a constrained-baseline stream (as the hall's
    encoder sends: parameter sets before every keyframe), one keyframe first."""
    ctx = baseline_h264_encoder(W, H)
    ctx.open()
    return encode_random_frames(ctx, frames, seed=7)


def without_parameter_sets(annexb: bytes) -> bytes:
    return b"".join(b"\x00\x00\x00\x01" + nal for nal in iter_nal_units(annexb)
                    if nal[0] & 0x1F not in (H264_NAL_SPS, H264_NAL_PPS))


def test_header_holds_the_streams_parameter_sets_and_a_keyframe_without_them_decodes(tmp_path: Path) -> None:
    units = baseline_stream(12)
    params = h264_parameter_sets(units[0])
    assert params and params[4] & 0x1F == H264_NAL_SPS and params[5] == 66  # baseline
    spec = SegmentSpec(segment_id=str(uuid.uuid4()), branch_id=1, meeting_id="m",
                       started_at=datetime.now(UTC), video_codec="h264", width=W, height=H,
                       extradata=params, has_audio=True)
    writer = SegmentWriter(tmp_path, spec)
    # the keyframe's SPS/PPS packet was lost: the frame holds the IDR slice alone
    first = without_parameter_sets(units[0])
    writer.write([("video", first, 0, True)] + [("video", u, 6000 * i, False) for i, u in enumerate(units[1:], 1)])
    segment = writer.finish()

    with av.open(str(segment.path)) as f:
        avcc = f.streams.video[0].codec_context.extradata
        decoded = sum(1 for _ in f.decode(video=0))
    sps = next(nal for nal in iter_nal_units(params) if nal[0] & 0x1F == H264_NAL_SPS)
    # avcC (ISO 14496-15): version, profile, compatibility, level, length size, SPS count, SPS length, SPS
    assert avcc[1] == 66, f"the avcC holds profile {avcc[1]}, not the stream's baseline SPS"
    assert avcc[8:8 + len(sps)] == sps
    assert decoded == len(units)


def opus_packets(seconds: float) -> list[bytes]:
    """20 ms Opus packets (libopus) of a 440 Hz tone, as a hall sends them."""
    enc = av.CodecContext.create("libopus", "w")
    enc.sample_rate, enc.layout, enc.format = 48000, "stereo", "s16"
    enc.time_base = Fraction(1, 48000)
    enc.open()
    t = np.arange(int(seconds * 48000)) / 48000
    pcm = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
    out: list[bytes] = []
    for i in range(0, len(pcm) - 960 + 1, 960):
        frame = av.AudioFrame.from_ndarray(np.repeat(pcm[None, i:i + 960], 2, axis=0).reshape(1, -1),
                                           format="s16", layout="stereo")
        frame.sample_rate, frame.pts = 48000, i
        out += [bytes(p) for p in enc.encode(frame)]
    return out


def decode_opus(packets: list[bytes]) -> np.ndarray:
    dec = av.CodecContext.create("opus", "r")
    dec.sample_rate, dec.layout = 48000, "stereo"
    pcm = [f.to_ndarray() for p in packets for f in dec.decode(av.Packet(p))]
    return np.concatenate(pcm, axis=1)


def test_opus_is_stored_six_frames_to_a_packet_and_decodes_to_the_same_sound(tmp_path: Path) -> None:
    """20 ms packets are stored six to a code-3 packet (120 ms, the most a packet
    may hold: a sixth of the muxer's calls); a gap, a packet of another kind and the segment's end cut a group
    short. What the file plays is what the hall sent, sample for sample."""
    units = baseline_stream(30)  # 2 s of video
    audio = opus_packets(2.0)
    assert len(audio) == 100 and all(p[0] & 3 == 0 for p in audio)
    spec = SegmentSpec(segment_id=str(uuid.uuid4()), branch_id=1, meeting_id="m",
                       started_at=datetime.now(UTC), video_codec="h264", width=W, height=H,
                       extradata=h264_parameter_sets(units[0]), has_audio=True)
    writer = SegmentWriter(tmp_path, spec)
    sent: list[tuple[int, bytes]] = [(960 * i, p) for i, p in enumerate(audio) if i not in (40, 41)]  # 40 ms lost
    packets: list[tuple[str, bytes, int, bool]] = []
    for i, unit in enumerate(units):
        packets.append(("video", unit, 6000 * i, i == 0))
        packets += [("audio", p, pts, True) for pts, p in sent if 3200 * i <= pts < 3200 * (i + 1)]
    writer.write(packets[:50])
    writer.write(packets[50:])
    segment = writer.finish()

    with av.open(str(segment.path)) as f:
        stored = [(int(p.pts), bytes(p)) for p in f.demux(audio=0) if p.size]
    # grouped: six frames a packet, except around the gap and at the end
    assert len(stored) <= len(sent) // 6 + 4, len(stored)
    assert [pts for pts, _ in stored][:3] == [0, 5760, 11520]
    assert all(p[0] & 3 == 3 and p[1] & 0x3F == 6 for _, p in stored[:6])
    # the file's sound up to the gap is the hall's, sample for sample
    before_gap = [p for pts, p in stored if pts < 960 * 40]
    assert np.array_equal(decode_opus(before_gap), decode_opus(audio[:40]))
    # and the whole timeline is there: the gap stays a gap (silence is filled only at the end)
    total = decode_opus([p for _, p in stored]).shape[1]
    assert total >= (len(sent)) * 960
