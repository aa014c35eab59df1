"""The emulated camera's microphone: a tone encoded as G.711 A-law (RFC 3551) or AAC (RFC 3640).

`AudioEncoder` turns elapsed time into encoded frames (PyAV's pcm_alaw or
aac encoder); `aac_hbr_payload` and `sdp_lines` are pure wire helpers.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import numpy as np

PCMA_PT = 8
AAC_PT = 97


@dataclass(frozen=True, slots=True)
class AudioUnit:
    payload: bytes  # one RTP payload
    timestamp: int  # in the codec's clock


def aac_hbr_payload(access_unit: bytes) -> bytes:
    """RFC 3640 AAC-hbr: AU-headers-length (16 bits) then one AU-header (13-bit size, 3-bit index)."""
    if len(access_unit) >= 1 << 13:
        raise ValueError(f"AAC access unit of {len(access_unit)} bytes does not fit a 13-bit size")
    return struct.pack("!HH", 16, len(access_unit) << 3) + access_unit


def sdp_lines(codec: str, rate: int, config: bytes = b"") -> list[str]:
    """The audio media section (control track2)."""
    if codec == "pcma":
        return ["m=audio 0 RTP/AVP 8", "a=rtpmap:8 PCMA/8000", "a=control:track2"]
    if codec == "aac":
        return [f"m=audio 0 RTP/AVP {AAC_PT}", f"a=rtpmap:{AAC_PT} MPEG4-GENERIC/{rate}/1",
                f"a=fmtp:{AAC_PT} streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;"
                f"indexlength=3;indexdeltalength=3;config={config.hex()}",
                "a=control:track2"]
    raise ValueError(f"camera audio codec {codec!r} is not pcma or aac")


class AudioEncoder:
    """A continuous sine, encoded on demand up to the time asked for."""

    def __init__(self, codec: str, *, frequency: float = 440.0, amplitude: float = 0.3) -> None:
        self.codec = codec
        self.rate = 8000 if codec == "pcma" else 48000
        self.payload_type = PCMA_PT if codec == "pcma" else AAC_PT
        self.frequency, self.amplitude = frequency, amplitude
        ctx: Any = av.CodecContext.create("pcm_alaw" if codec == "pcma" else "aac", "w")
        ctx.sample_rate = self.rate
        ctx.layout = "mono"
        ctx.format = "s16" if codec == "pcma" else "fltp"
        ctx.time_base = Fraction(1, self.rate)
        if codec == "aac":
            ctx.bit_rate = 64000
        ctx.open()
        self.ctx = ctx
        self.frame_samples = 160 if codec == "pcma" else int(ctx.frame_size or 1024)
        self.samples = 0
        self.enabled = True

    @property
    def config(self) -> bytes:
        return bytes(self.ctx.extradata or b"")

    def encode_until(self, seconds: float) -> list[AudioUnit]:
        units: list[AudioUnit] = []
        while self.samples + self.frame_samples <= seconds * self.rate:
            t = (self.samples + np.arange(self.frame_samples)) / self.rate
            wave = self.amplitude * np.sin(2 * np.pi * self.frequency * t) if self.enabled else 0 * t
            if self.codec == "pcma":
                frame = av.AudioFrame.from_ndarray((wave * 32767).astype(np.int16).reshape(1, -1),
                                                   format="s16", layout="mono")
            else:
                frame = av.AudioFrame.from_ndarray(wave.astype(np.float32).reshape(1, -1),
                                                   format="fltp", layout="mono")
            frame.sample_rate, frame.pts = self.rate, self.samples
            frame.time_base = Fraction(1, self.rate)
            self.samples += self.frame_samples
            for packet in self.ctx.encode(frame):
                data = bytes(packet)
                payload = data if self.codec == "pcma" else aac_hbr_payload(data)
                units.append(AudioUnit(payload, int(packet.pts if packet.pts is not None else self.samples)))
        return units
