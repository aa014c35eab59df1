"""Pure parts of the media plane: bitstream helpers, SDP checks, playlists,
upload headers, migration."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect

from hub.db import make_engine, migrate
from hub.media.bitstream import (
    h264_dimensions,
    h264_is_keyframe,
    h264_sps_dimensions,
    iter_nal_units,
    opus_head,
    vp8_dimensions,
    vp8_is_keyframe,
)
from hub.media.errors import BadSdp, UnsupportedMedia
from hub.media.sdp import check_publish_offer, decode_offer, offered_codecs
from hub.recordings.errors import BadUpload, PayloadTooLarge, UnsupportedType
from hub.recordings.playlist import PlaylistSegment, build_playlist, find_gaps
from hub.recordings.upload import parse_upload_headers
from tests.hub.media.peers import Clip

# SPS NAL units written by x264 (golden: not produced by our code): baseline
# 320x180 (cropped from 192 rows), and high profile 1920x1080 (cropped from 1088).
SPS_320x180 = bytes.fromhex("6742c00cd901419f9f0110000003001000000301e0f142a480")
SPS_1080P_HIGH = bytes.fromhex("67640028acd940780227e5c044000003000400000300783c60c658")


def test_sps_dimensions_golden() -> None:
    assert h264_sps_dimensions(SPS_320x180) == (320, 180)
    assert h264_sps_dimensions(SPS_1080P_HIGH) == (1920, 1080)
    with pytest.raises(ValueError, match="not an H.264 SPS"):
        h264_sps_dimensions(b"\x68\x00")
    for n in range(1, 6):
        with pytest.raises(ValueError, match="truncated"):
            h264_sps_dimensions(SPS_320x180[:n])


def test_clip_bitstreams(h264_clip: Clip, vp8_clip: Clip) -> None:
    key = h264_clip.video[0]
    assert h264_is_keyframe(key) and not h264_is_keyframe(h264_clip.video[1])
    assert h264_dimensions(key) == (320, 180)
    assert [n[0] & 0x1F for n in iter_nal_units(b"\x00\x00\x00\x01\x67\xaa\x00\x00\x01\x68\xbb")] == [7, 8]
    assert vp8_is_keyframe(vp8_clip.video[0]) and not vp8_is_keyframe(vp8_clip.video[1])
    assert vp8_dimensions(vp8_clip.video[0]) == (320, 180)
    assert vp8_dimensions(vp8_clip.video[1]) is None
    with pytest.raises(ValueError, match="start code"):
        vp8_dimensions(b"\x00" * 10)
    assert opus_head()[:8] == b"OpusHead" and len(opus_head()) == 19


def test_keyframe_check_agrees_with_the_nal_units() -> None:
    """h264_is_keyframe reads the byte after each start code up to the first
    slice: on access units made of random units, 3- and 4-byte start codes,
    empty units and a start code at the very end, it says what the first
    slice's NAL unit type says (every slice of a picture has the same)."""
    import random

    rng = random.Random(7)
    assert not h264_is_keyframe(b"") and not h264_is_keyframe(b"\x00\x00\x01")
    assert h264_is_keyframe(b"\x00\x00\x01\x00\x00\x01\x65\x88")
    for _ in range(3000):
        parts = []
        for _ in range(rng.randint(0, 5)):
            start = rng.choice([b"\x00\x00\x01", b"\x00\x00\x00\x01"])
            header = rng.choice([0x65, 0x41, 0x67, 0x68, 0x06, 0x05, 0x25, 0x00])
            body = bytes(rng.choice([0, 1, 3, 0x65, 0x88]) for _ in range(rng.randint(0, 6)))
            parts.append(start + bytes([header]) + body.replace(b"\x00\x00", b"\x00\x03"))
        au = b"".join(parts) + rng.choice([b"", b"\x00\x00\x01"])
        slices = [n[0] & 0x1F for n in iter_nal_units(au) if 1 <= n[0] & 0x1F <= 5]
        expected = bool(slices) and slices[0] == 5
        assert h264_is_keyframe(au) == expected, au.hex()


def test_sdp_checks() -> None:
    with pytest.raises(BadSdp, match="more than"):
        decode_offer(b"v=0\n" * 100, 50)
    with pytest.raises(BadSdp, match="no media section"):
        decode_offer(b"v=0\r\no=- 0 0 IN IP4 0\r\n", 1000)
    sdp = "v=0\r\nm=video 9 X 96 97\r\na=rtpmap:96 VP9/90000\r\na=rtpmap:97 rtx/90000\r\n"
    assert offered_codecs(sdp) == {"video": ["vp9", "rtx"]}
    with pytest.raises(UnsupportedMedia, match="H.264"):
        check_publish_offer(sdp)
    with pytest.raises(UnsupportedMedia, match="Opus"):
        check_publish_offer(sdp.replace("VP9", "VP8") + "m=audio 9 X 0\r\na=rtpmap:0 PCMU/8000\r\n")


def test_playlist_marks_gaps_and_byte_ranges() -> None:
    t0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    segs = [PlaylistSegment("a", t0, 6.0, 1000, 100),
            PlaylistSegment("b", t0 + timedelta(seconds=6), 6.0, 900, 100),
            PlaylistSegment("c", t0 + timedelta(seconds=60), 4.5, 800, 90)]
    text = build_playlist(segs)
    assert find_gaps(segs) == [(t0 + timedelta(seconds=12), 48.0)]
    assert text.count("#EXT-X-DISCONTINUITY") == 2 and text.count("## gap") == 1
    assert "#EXT-X-PROGRAM-DATE-TIME:2026-11-22T10:01:00.000Z" in text
    assert '#EXT-X-MAP:URI="segments/c.mp4",BYTERANGE="90@0"' in text
    assert "#EXT-X-BYTERANGE:710@90" in text and "#EXT-X-TARGETDURATION:6" in text
    with pytest.raises(ValueError):
        build_playlist([])


def test_upload_headers() -> None:
    seg, meeting = str(uuid.uuid4()), str(uuid.uuid4())
    h = {"x-meeting-id": meeting, "x-segment-started-at": "2026-11-22T10:00:00Z",
         "x-segment-sha256": "a" * 64, "content-type": "video/mp4",
         "content-range": "bytes 10-19/30", "content-length": "10"}
    meta = parse_upload_headers(seg, h, 1000)
    assert (meta.start, meta.end, meta.total, meta.container) == (10, 19, 30, "mp4")
    with pytest.raises(BadUpload, match="body length"):
        parse_upload_headers(seg, {**h, "content-length": "9"}, 1000)
    with pytest.raises(BadUpload, match="UTC offset"):
        parse_upload_headers(seg, {**h, "x-segment-started-at": "2026-11-22T10:00:00"}, 1000)
    with pytest.raises(BadUpload, match="UUID"):
        parse_upload_headers("x", h, 1000)
    with pytest.raises(BadUpload, match="Content-Length"):
        parse_upload_headers(seg, {k: v for k, v in h.items() if k != "content-length"}, 1000)
    with pytest.raises(PayloadTooLarge):
        parse_upload_headers(seg, h, 20)
    with pytest.raises(UnsupportedType):
        parse_upload_headers(seg, {**h, "content-type": "text/plain"}, 1000)


def test_migration_creates_media_tables(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"media_recordings", "media_segments"} <= tables


def test_frame_assembler_in_order_reordered_lost_and_wrapping() -> None:
    from hub.media.assembler import FrameAssembler

    a = FrameAssembler()
    assert a.add(65534, 100, False, b"a") == (None, False)
    assert a.add(65535, 100, False, b"b") == (None, False)
    assert a.add(0, 100, True, b"c") == (b"abc", False)  # sequence numbers wrap
    assert a.add(0, 100, True, b"c") == (None, False)  # duplicate of an emitted frame
    # reordered inside a frame
    assert a.add(2, 200, True, b"z") == (None, False)
    assert a.add(1, 200, False, b"y") == (b"yz", False)
    assert not a.guessed  # it began right after the previous frame's marker
    # a lost packet: the frame is dropped when the next one starts
    assert a.add(3, 300, False, b"1") == (None, False)
    assert a.add(5, 300, True, b"3") == (None, False)
    assert a.add(6, 400, True, b"k") == (b"k", True)
    assert a.guessed  # after the loss, its first packet is only the lowest one seen
    assert a.add(4, 300, False, b"2") == (None, False)  # too late
    assert (a.frames, a.dropped) == (3, 1)
    # timestamps wrap too
    b = FrameAssembler()
    assert b.add(7, 0xFFFFFFF0, True, b"w") == (b"w", False)
    assert b.add(8, 0x10, True, b"x") == (b"x", False)
    assert b.add(9, 0xFFFFFFF0, True, b"w") == (None, False)


async def test_offer_host_addresses_offers_exactly_the_configured_ones() -> None:
    from aiortc import RTCPeerConnection

    from hub.media.ice import offer_host_addresses, rtc_configuration

    pc = RTCPeerConnection(rtc_configuration([]))
    try:
        pc.addTransceiver("video", direction="recvonly")
        offer_host_addresses(pc, ["127.0.0.1"])
        await pc.setLocalDescription(await pc.createOffer())
        candidates = [line for line in pc.localDescription.sdp.splitlines()
                      if line.startswith("a=candidate:")]
        assert candidates and all(" 127.0.0.1 " in c and " typ host" in c for c in candidates)
    finally:
        await pc.close()


def test_h264_depayload_matches_aiortc(h264_clip: Clip) -> None:
    """The hub's H.264 depayloader returns what aiortc's does, for every packet
    aiortc's packetiser makes of a real clip (single NAL, FU-A, STAP-A) and
    for hand-made edge cases; bad payloads raise the same ValueError."""
    from aiortc.codecs.h264 import H264Encoder
    from aiortc.codecs.h264 import h264_depayload as reference

    from hub.media.bitstream import h264_depayload

    frames = h264_clip.video[:20]
    payloads = [p for f in frames for p in H264Encoder._packetize(H264Encoder._split_bitstream(f))]
    assert {p[0] & 0x1F for p in payloads} >= {24, 28}  # STAP-A and FU-A both seen
    payloads += [b"\x41\x9a", b"\x7c\x85", b"\x7c\x45\x01", b"\x7c\x05", b"\x67\x42\x00"]
    for payload in payloads:
        assert h264_depayload(payload) == reference(payload)
    for bad in (b"", b"\x7c", b"\x00\x00", b"\x19\x00\x01", b"\x1f\x00", b"\x18\x00"):
        with pytest.raises(ValueError) as ours:
            h264_depayload(bad)
        with pytest.raises(ValueError) as theirs:
            reference(bad)
        assert str(ours.value) == str(theirs.value)
