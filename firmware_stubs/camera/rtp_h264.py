"""Pure H.264-over-RTP helpers for the emulated camera (RFC 6184, RFC 3550).

Annex-B splitting, single-NAL and FU-A packetization, the 12-byte RTP
header, and the SDP `sprop-parameter-sets`. No I/O.
"""

from __future__ import annotations

import base64
import struct

RTP_VERSION = 2
FU_A = 28


def split_annexb(data: bytes) -> list[bytes]:
    """NAL units of an Annex-B byte stream, start codes removed."""
    nals: list[bytes] = []
    i = data.find(b"\x00\x00\x01")
    while i >= 0:
        start = i + 3
        j = data.find(b"\x00\x00\x01", start)
        if j < 0:
            nals.append(data[start:])
            break
        end = j - 1 if data[j - 1] == 0 else j
        nals.append(data[start:end])
        i = j
    return [n for n in nals if n]


def nal_type(nal: bytes) -> int:
    if not nal:
        raise ValueError("empty NAL unit")
    return nal[0] & 0x1F


def packetize_nal(nal: bytes, max_payload: int = 1200) -> list[bytes]:
    """RTP payloads for one NAL: as is when it fits, else FU-A fragments."""
    if len(nal) <= max_payload:
        return [nal]
    if max_payload < 3:
        raise ValueError(f"max payload {max_payload} is too small for FU-A")
    header = nal[0]
    indicator = (header & 0xE0) | FU_A
    body = nal[1:]
    chunk = max_payload - 2
    out = []
    for offset in range(0, len(body), chunk):
        start = offset == 0
        end = offset + chunk >= len(body)
        fu_header = (0x80 if start else 0) | (0x40 if end else 0) | (header & 0x1F)
        out.append(bytes([indicator, fu_header]) + body[offset : offset + chunk])
    return out


def rtp_header(*, payload_type: int, sequence: int, timestamp: int, ssrc: int, marker: bool) -> bytes:
    if not 0 <= payload_type < 128:
        raise ValueError(f"RTP payload type {payload_type} is outside 0..127")
    return struct.pack(
        "!BBHII", RTP_VERSION << 6, (0x80 if marker else 0) | payload_type,
        sequence & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc & 0xFFFFFFFF,
    )


def sprop_parameter_sets(nals: list[bytes]) -> str | None:
    """base64(SPS),base64(PPS) for the SDP fmtp line, or None if either is missing."""
    sps = next((n for n in nals if nal_type(n) == 7), None)
    pps = next((n for n in nals if nal_type(n) == 8), None)
    if sps is None or pps is None:
        return None
    return f"{base64.b64encode(sps).decode()},{base64.b64encode(pps).decode()}"


def profile_level_id(nals: list[bytes]) -> str | None:
    sps = next((n for n in nals if nal_type(n) == 7), None)
    if sps is None or len(sps) < 4:
        return None
    return sps[1:4].hex()
