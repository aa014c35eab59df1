"""The capture time of a keyframe, carried in the H.264 stream itself.

The hall labels each local segment with the wall clock at which its first
keyframe was captured; the hub sees the same keyframe only when it arrives
(after encoding, the hall's event loop, the link and a reconnection's
burst), and RTCP sender reports give the time a packet was *sent*, not
captured. So the edge writes the capture time into every H.264 keyframe it
sends and records: an SEI message (user_data_unregistered, a fixed UUID,
then the capture time in microseconds since the Unix epoch, big-endian
uint64) just before the IDR slice (docs/protocols/segment-upload.md,
"Segment times"). Decoders ignore it. Both copies of a segment cut on the
same keyframe then carry the same start time to the microsecond.

Pure functions, no I/O. The hub's reader is hub/media/bitstream.py
`h264_capture_time` (devices never import hub, so the UUID is repeated).
"""

from __future__ import annotations

import struct
import uuid

CAPTURE_TIME_UUID = uuid.UUID("264628cc-3ae5-4305-bb3f-ad4dbd814e09").bytes
SEI_NAL = 6
USER_DATA_UNREGISTERED = 5


def _escape(rbsp: bytes) -> bytes:
    """Emulation prevention (H.264 7.4.1): after two zero bytes, a byte <= 3 gets a 0x03 before it."""
    out = bytearray()
    zeros = 0
    for b in rbsp:
        if zeros >= 2 and b <= 3:
            out.append(3)
            zeros = 0
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def capture_time_sei(wall: float) -> bytes:
    """One SEI NAL unit (with a 4-byte start code) holding `wall` (seconds since the epoch)."""
    body = CAPTURE_TIME_UUID + struct.pack(">Q", max(0, round(wall * 1_000_000)))
    rbsp = bytes([USER_DATA_UNREGISTERED, len(body)]) + body + b"\x80"  # + rbsp_trailing_bits
    return b"\x00\x00\x00\x01" + bytes([SEI_NAL]) + _escape(rbsp)


def with_capture_time(annexb: bytes, wall: float) -> bytes:
    """The access unit with the capture-time SEI before its first slice (after
    any AUD, SPS and PPS, where H.264 puts SEI). Unchanged if it has no slice."""
    pos = annexb.find(b"\x00\x00\x01")
    while pos != -1:
        if pos + 3 < len(annexb) and 1 <= annexb[pos + 3] & 0x1F <= 5:
            if pos > 0 and annexb[pos - 1] == 0:
                pos -= 1  # a 4-byte start code
            return annexb[:pos] + capture_time_sei(wall) + annexb[pos:]
        pos = annexb.find(b"\x00\x00\x01", pos + 3)
    return annexb
