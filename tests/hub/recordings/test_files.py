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

W, H = 320, 180


def baseline_stream(frames: int) -> list[bytes]:
    """Annex-B access units of a constrained-baseline stream (as the hall's
    encoder sends: parameter sets before every keyframe), one keyframe first."""
    ctx = av.CodecContext.create("libx264", "w")
    ctx.profile = "Baseline"
    ctx.width, ctx.height, ctx.pix_fmt = W, H, "yuv420p"
    ctx.time_base, ctx.framerate = Fraction(1, 15), Fraction(15)
    ctx.options = {"preset": "veryfast", "tune": "zerolatency", "x264-params": "repeat-headers=1"}
    ctx.open()
    rng = np.random.default_rng(7)
    out: list[bytes] = []
    for i in range(frames):
        image = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        out += [bytes(p) for p in ctx.encode(frame)]
    out += [bytes(p) for p in ctx.encode(None)]
    return out


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
