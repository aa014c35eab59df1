"""Pure codec helpers on encoded frames: no I/O, no asyncio, no decoding.

What the hub needs to know about a frame it never decodes: is it a keyframe,
what are its dimensions (for the MP4 sample entry), and the H.264 parameter
sets (for the avcC box). Bad input raises ValueError with a precise message.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

H264_NAL_IDR = 5
H264_NAL_SPS = 7
H264_NAL_PPS = 8
H264_NAL_SEI = 6
# devices/media/capturetime.py writes it: the capture time of a keyframe
CAPTURE_TIME_UUID = bytes.fromhex("264628cc3ae54305bb3fad4dbd814e09")
_START = b"\x00\x00\x01"
_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


def iter_nal_units(annexb: bytes) -> Iterator[bytes]:
    """Split an Annex-B byte stream into NAL units (without start codes)."""
    pos = annexb.find(_START)
    while pos != -1:
        start = pos + 3
        nxt = annexb.find(_START, start)
        end = len(annexb) if nxt == -1 else nxt
        nal = annexb[start:end]
        # a 4-byte start code leaves a trailing zero on the previous unit
        if nxt != -1 and nal.endswith(b"\x00"):
            nal = nal.rstrip(b"\x00")
        if nal:
            yield nal
        pos = nxt


def h264_is_keyframe(annexb: bytes) -> bool:
    """True if the access unit's picture is an IDR picture (a decoder can start here).

    Every slice of one picture is IDR or none is (H.264 7.4.1.2.4), so the
    first slice decides, and the units before it (AUD, SEI, SPS, PPS) are
    short: only their first bytes are read and nothing is copied. It runs
    for every frame of every hall; splitting the frame into units was 4 %
    of a media node's time at 256 halls."""
    end = len(annexb) - 3
    pos = annexb.find(_START)
    while pos != -1 and pos < end:
        nal_type = annexb[pos + 3] & 0x1F
        if nal_type == H264_NAL_IDR:
            return True
        if 1 <= nal_type <= 4:  # a slice of a non-IDR picture
            return False
        pos = annexb.find(_START, pos + 3)
    return False


def h264_starts_access_unit(annexb: bytes) -> bool:
    """The data begins as an access unit does: with a start code and a NAL
    unit that can come first (SEI, SPS, PPS, AUD) or the first slice of a
    picture (first_mb_in_slice 0: its ue(v) code is the single bit 1). What is
    left of a frame whose leading RTP packets were lost begins with a
    fragment of a NAL unit (no start code) or with a later slice."""
    if annexb.startswith(b"\x00\x00\x00\x01"):
        pos = 4
    elif annexb.startswith(b"\x00\x00\x01"):
        pos = 3
    else:
        return False
    if len(annexb) < pos + 2:
        return False
    kind = annexb[pos] & 0x1F
    if kind in (1, 5):
        return annexb[pos + 1] & 0x80 != 0
    return kind in (H264_NAL_SEI, H264_NAL_SPS, H264_NAL_PPS, 9)


def h264_parameter_sets(annexb: bytes) -> bytes:
    """The SPS and PPS NAL units of an access unit, as Annex-B (b'' if none)."""
    out = b""
    for nal in iter_nal_units(annexb):
        if nal[0] & 0x1F in (H264_NAL_SPS, H264_NAL_PPS):
            out += b"\x00\x00\x00\x01" + nal
    return out


class _BitReader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def bit(self) -> int:
        byte = self.pos >> 3
        if byte >= len(self.data):
            raise ValueError("H.264 SPS is truncated")
        value = (self.data[byte] >> (7 - (self.pos & 7))) & 1
        self.pos += 1
        return value

    def bits(self, n: int) -> int:
        value = 0
        for _ in range(n):
            value = (value << 1) | self.bit()
        return value

    def ue(self) -> int:
        zeros = 0
        while self.bit() == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("H.264 SPS has an invalid Exp-Golomb code")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


def _unescape(nal: bytes) -> bytes:
    return nal.replace(b"\x00\x00\x03", b"\x00\x00")


def _sei_number(rbsp: bytes, pos: int) -> tuple[int, int]:
    value = 0
    while pos < len(rbsp) and rbsp[pos] == 0xFF:
        value += 255
        pos += 1
    if pos >= len(rbsp):
        raise ValueError("SEI message cut short")
    return value + rbsp[pos], pos + 1


def h264_capture_time(annexb: bytes) -> float | None:
    """The capture time (seconds since the epoch) the hall wrote into this
    access unit as an SEI message (devices/media/capturetime.py), or None."""
    for nal in iter_nal_units(annexb):
        kind = nal[0] & 0x1F
        if 1 <= kind <= 5:
            return None  # SEI comes before the first slice
        if kind != H264_NAL_SEI:
            continue
        rbsp = _unescape(nal[1:])
        pos = 0
        try:
            while pos < len(rbsp) and rbsp[pos] != 0x80:
                ptype, pos = _sei_number(rbsp, pos)
                size, pos = _sei_number(rbsp, pos)
                body = rbsp[pos:pos + size]
                if ptype == 5 and size == 24 and body[:16] == CAPTURE_TIME_UUID:
                    return int(struct.unpack(">Q", body[16:24])[0]) / 1_000_000
                pos += size
        except ValueError:
            continue
    return None


def h264_sps_dimensions(sps_nal: bytes) -> tuple[int, int]:
    """(width, height) in pixels from an SPS NAL unit (header byte included)."""
    if not sps_nal or sps_nal[0] & 0x1F != H264_NAL_SPS:
        raise ValueError("not an H.264 SPS NAL unit")
    r = _BitReader(_unescape(sps_nal[1:]))
    profile_idc = r.bits(8)
    r.bits(16)  # constraint flags, level_idc
    r.ue()  # seq_parameter_set_id
    chroma_format_idc = 1
    if profile_idc in _HIGH_PROFILES:
        chroma_format_idc = r.ue()
        if chroma_format_idc == 3:
            r.bit()
        r.ue()
        r.ue()
        r.bit()
        if r.bit():  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma_format_idc != 3 else 12):
                if r.bit():
                    last, nxt = 8, 8
                    for _ in range(16 if i < 6 else 64):
                        if nxt:
                            nxt = (last + r.se() + 256) % 256
                        last = nxt or last
    r.ue()  # log2_max_frame_num_minus4
    poc_type = r.ue()
    if poc_type == 0:
        r.ue()
    elif poc_type == 1:
        r.bit()
        r.se()
        r.se()
        for _ in range(r.ue()):
            r.se()
    r.ue()  # max_num_ref_frames
    r.bit()
    width_mbs = r.ue() + 1
    height_units = r.ue() + 1
    frame_mbs_only = r.bit()
    if not frame_mbs_only:
        r.bit()
    r.bit()  # direct_8x8_inference_flag
    crop = (0, 0, 0, 0)
    if r.bit():
        crop = (r.ue(), r.ue(), r.ue(), r.ue())
    sub_w, sub_h = (2, 2) if chroma_format_idc == 1 else (2, 1) if chroma_format_idc == 2 else (1, 1)
    crop_x = sub_w if chroma_format_idc else 1
    crop_y = (sub_h if chroma_format_idc else 1) * (2 - frame_mbs_only)
    width = width_mbs * 16 - crop_x * (crop[0] + crop[1])
    height = (2 - frame_mbs_only) * height_units * 16 - crop_y * (crop[2] + crop[3])
    if width <= 0 or height <= 0:
        raise ValueError("H.264 SPS gives a non-positive picture size")
    return width, height


def h264_dimensions(annexb: bytes) -> tuple[int, int] | None:
    for nal in iter_nal_units(annexb):
        if nal[0] & 0x1F == H264_NAL_SPS:
            return h264_sps_dimensions(nal)
    return None


def vp8_is_keyframe(frame: bytes) -> bool:
    # RFC 6386 9.1: bit 0 of the frame tag is 0 for a key frame
    return bool(frame) and frame[0] & 0x01 == 0


def vp8_dimensions(frame: bytes) -> tuple[int, int] | None:
    """(width, height) of a VP8 key frame, None for an inter frame."""
    if not vp8_is_keyframe(frame):
        return None
    if len(frame) < 10:
        raise ValueError("VP8 key frame is truncated")
    if frame[3:6] != b"\x9d\x01\x2a":
        raise ValueError("VP8 key frame start code is invalid")
    width, height = struct.unpack("<HH", frame[6:10])
    return width & 0x3FFF, height & 0x3FFF


def is_keyframe(codec: str, frame: bytes) -> bool:
    if codec == "h264":
        return h264_is_keyframe(frame)
    if codec == "vp8":
        return vp8_is_keyframe(frame)
    return True  # audio: every frame stands alone


def opus_head(channels: int = 2, pre_skip: int = 312, rate: int = 48000) -> bytes:
    """The OpusHead header (RFC 7845 5.1) MP4/Matroska muxers want as extradata."""
    return b"OpusHead" + struct.pack("<BBHIhB", 1, channels, pre_skip, rate, 0, 0)


_FU_A, _STAP_A = 28, 24
# start code + reconstructed NAL header, by header byte (a FU-A's first fragment)
_NAL_START = [b"\x00\x00\x00\x01" + bytes((h,)) for h in range(256)]


def h264_depayload(payload: bytes) -> bytes:
    """One H.264 RTP payload (RFC 6184) as Annex-B bytes: what
    `aiortc.codecs.h264.h264_depayload` returns, without building a descriptor
    object per packet (it was the largest Python cost per video packet).
    STAP-A (parameter sets, a few per second at most) goes to aiortc's."""
    if len(payload) < 2:
        raise ValueError("NAL unit is too short")
    b0 = payload[0]
    nal_type = b0 & 0x1F
    if nal_type == _FU_A:
        fu = payload[1]
        if fu & 0x80:  # first fragment: the NAL header comes back
            return _NAL_START[(b0 & 0xE0) | (fu & 0x1F)] + payload[2:]
        return payload[2:]
    if 0 < nal_type < 24:
        return b"\x00\x00\x00\x01" + payload
    if nal_type == _STAP_A:
        from aiortc.codecs.h264 import h264_depayload as aggregated

        return aggregated(payload)
    raise ValueError(f"NAL unit type {nal_type} is not supported")
