"""The rig of tests/hub/media/test_rx_native.py: real H.264 media as RTP, the
scenario plan, a fake DTLS transport with real pylibsrtp sessions, and the run
of one plan through the compiled or the Python receive path."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import importlib
import struct
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import pylibsrtp
import pytest
from aiortc.codecs.h264 import H264Encoder
from aiortc.rtcdtlstransport import RTCDtlsTransport, RtpRouter
from aiortc.rtcrtpparameters import (
    RTCRtcpFeedback,
    RTCRtpCodecParameters,
    RTCRtpDecodingParameters,
    RTCRtpReceiveParameters,
    RTCRtpRtxParameters,
)
from aiortc.rtp import HeaderExtensionsMap
from av.video.frame import PictureType
from pylibsrtp._binding import ffi, lib

from hub.media.assembler import HOLD_FRAMES
from hub.media.passthrough import PassThroughReceiver
from tests.hub.media.peers import baseline_h264_encoder

W, H = 320, 180

KEY = bytes(range(1, 31))  # AES_CM_128_HMAC_SHA1_80: 16 bytes of key, 14 of salt
ADDR = ("127.0.0.1", 5000)
VIDEO_SSRC, RTX_SSRC, AUDIO_SSRC = 0x1234ABCD, 0x5678EF01, 0x0BADCAFE
VIDEO_PT, RTX_PT, AUDIO_PT = 102, 103, 111
FRAME_TICKS = 6000  # 90 kHz at 15 fps
AUDIO_TICKS = 960  # 20 ms at 48 kHz


def native_module() -> Any:
    """hub.media._rx, built from the _rx.c next to it; the test fails (it is
    not skipped) when it is missing or older than its source."""
    try:
        module = importlib.import_module("hub.media._rx")
    except ImportError as exc:
        pytest.fail(f"hub.media._rx is not built ({exc}): run scripts/test, which builds it "
                    "(pip install -e . compiles hub/media/_rx.c in place)")
    built = Path(str(module.__file__))
    source = built.with_name("_rx.c")
    if source.exists() and source.stat().st_mtime > built.stat().st_mtime:
        pytest.fail(f"{built} is older than {source}: rebuild it with scripts/test (or "
                    ".venv/bin/pip install -e .)")
    return module


# ----------------------------------------------------------------- the media


@functools.cache
def access_units() -> list[bytes]:
    """12 H.264 access units: an IDR with SPS, PPS and SEI, P frames, and a
    second IDR (frame 6) whose SPS and PPS go out as one STAP-A packet."""
    ctx = baseline_h264_encoder(W, H)
    rng = np.random.default_rng(3)
    out: list[bytes] = []
    for i in range(12):
        img = np.full((H, W, 3), 90, dtype=np.uint8)
        img[:, :, 1] = np.linspace(0, 255, W, dtype=np.uint8)[None, :]
        x = 10 + 20 * i
        img[40:120, x:x + 80] = rng.integers(0, 255, (80, 80, 3), dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        if i == 6:
            frame.pict_type = PictureType.I
        out += [bytes(p) for p in ctx.encode(frame)]
    assert len(out) == 12
    return out


@functools.cache
def payloads() -> list[list[bytes]]:
    """The RTP payloads of each access unit, as aiortc packetises them."""
    out = [H264Encoder._packetize(H264Encoder._split_bitstream(u)) for u in access_units()]
    assert all(len(p) >= 4 for p in out)  # every frame spans several packets
    assert out[0][0][0] & 0x1F == 24 and out[6][0][0] & 0x1F == 24  # STAP-A before each IDR
    return out


def rtp(seq: int, ts: int, payload: bytes, *, ssrc: int = VIDEO_SSRC, pt: int = VIDEO_PT,
        marker: bool = False, padding: int = 0, pad_value: int | None = None,
        csrc: tuple[int, ...] = (), ext: bytes | None = None) -> bytes:
    """A plain RTP packet (RFC 3550), built by hand so that any field can be odd."""
    b0 = 0x80 | (0x20 if padding else 0) | (0x10 if ext is not None else 0) | len(csrc)
    data = struct.pack("!BBHLL", b0, (int(marker) << 7) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc)
    data += b"".join(struct.pack("!L", c) for c in csrc)
    if ext is not None:
        assert len(ext) % 4 == 0
        data += struct.pack("!HH", 0xBEDE, len(ext) // 4) + ext
    data += payload
    if padding:
        data += bytes(padding - 1) + bytes([padding if pad_value is None else pad_value])
    return data


def is_srtp(data: bytes) -> bool:
    """What both paths take for SRTP (RFC 7983), the rest goes the stock way."""
    return len(data) > 12 and 127 < data[0] < 192 and not 191 < data[1] < 209


# ------------------------------------------------------------- the scenarios


@dataclass
class Plan:
    """Packets in the order the sender protects them (each SSRC's in sequence
    order, as a sender does) and the steps of delivering them: ("srtp", i),
    ("tamper", i), ("cut", i), ("raw", datagram) or an action on the receiver."""

    seq: int = 1000
    ts0: int = 90_000
    rtx: bool = False
    audio: bool = False
    packets: list[bytes] = field(default_factory=list)
    steps: list[tuple[str, Any]] = field(default_factory=list)
    info: dict[int, tuple[int, int, bool, bytes]] = field(default_factory=dict)
    rtx_seq: int = 700
    audio_seq: int = 20_000

    def add(self, data: bytes) -> int:
        self.packets.append(data)
        return len(self.packets) - 1

    def media(self, payload: bytes, ts: int, marker: bool = False, **kw: Any) -> int:
        """The next packet of the video SSRC."""
        seq = self.seq
        self.seq = (seq + 1) & 0xFFFF
        i = self.add(rtp(seq, ts, payload, marker=marker, **kw))
        self.info[i] = (seq, ts & 0xFFFFFFFF, marker, payload)
        return i

    def ts(self, k: int) -> int:
        return (self.ts0 + k * FRAME_TICKS) & 0xFFFFFFFF

    def frame(self, k: int, extra: dict[int, list[bytes]] | None = None,
              tail: bytes | None = None, ts: int | None = None,
              markers: set[int] | None = None, **kw: Any) -> list[int]:
        """The packets of access unit k (timestamp ts0 + k frames unless `ts`);
        `extra` payloads go in before payload `pos` of the frame, `tail` is an
        extra last packet that carries the marker; `markers`: the positions
        whose packet has the marker bit (the last one's by default)."""
        parts = payloads()[k]
        ts = self.ts(k) if ts is None else ts & 0xFFFFFFFF
        if markers is None:
            markers = {len(parts) - 1} if tail is None else set()
        out = []
        for pos, payload in enumerate(parts):
            for more in (extra or {}).get(pos, []):
                out.append(self.media(more, ts))
            out.append(self.media(payload, ts, marker=pos in markers, **kw))
        if tail is not None:
            out.append(self.media(tail, ts, marker=True))
        return out

    def retransmit(self, i: int, **kw: Any) -> int:
        """An RTX packet (RFC 4588) carrying media packet i."""
        seq, ts, marker, payload = self.info[i]
        return self.rtx_packet(struct.pack("!H", seq) + payload, ts, marker, **kw)

    def rtx_packet(self, payload: bytes, ts: int, marker: bool = False, **kw: Any) -> int:
        seq = self.rtx_seq
        self.rtx_seq += 1
        return self.add(rtp(seq, ts, payload, ssrc=RTX_SSRC, pt=RTX_PT, marker=marker, **kw))

    def opus(self, k: int, payload: bytes, **kw: Any) -> int:
        seq = self.audio_seq
        self.audio_seq += 1
        return self.add(rtp(seq, 5000 + k * AUDIO_TICKS, payload, ssrc=AUDIO_SSRC, pt=AUDIO_PT,
                            marker=k == 0, **kw))

    def coda(self, after: int) -> None:
        """HOLD_FRAMES clean frames after frame `after` (payloads 1, 2, ...
        again): the stream goes on, so what the packet hold keeps behind a gap
        that is never filled is given up and passed on, as in a meeting."""
        for i in range(1, HOLD_FRAMES + 1):
            self.deliver(*self.frame(i, ts=self.ts(after + i)))

    def deliver(self, *indices: int) -> None:
        self.steps += [("srtp", i) for i in indices]

    def do(self, action: str, arg: Any = None) -> None:
        self.steps.append((action, arg))


# ------------------------------------------------------------------ the rig


class StockProtocol:
    """An aioice socket protocol: what reaches its own datagram_received is
    what STUN/DTLS/SRTCP handling would get."""

    def __init__(self, log: list[tuple[Any, ...]]) -> None:
        self.log = log

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.log.append(("stock", data, addr))


class FakeDtls:
    """What fastpath.install and the receiver read of an RTCDtlsTransport;
    registering a receiver is aiortc's own code."""

    _register_rtp_receiver = RTCDtlsTransport._register_rtp_receiver
    _unregister_rtp_receiver = RTCDtlsTransport._unregister_rtp_receiver

    def __init__(self, protocol: StockProtocol) -> None:
        policy = pylibsrtp.Policy(key=KEY, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND)
        policy.allow_repeat_tx = True  # as aiortc's RTCDtlsTransport sets it up
        policy.window_size = 1024
        self.state = "connected"
        self._rx_srtp = pylibsrtp.Session(policy)
        self._rtp_router = RtpRouter()
        self._rtp_header_extensions_map = HeaderExtensionsMap()
        self.transport = types.SimpleNamespace(
            _connection=types.SimpleNamespace(_protocols=[protocol]))


def sender() -> Callable[[bytes], bytes]:
    """SRTP protection with the same key, for datagrams of any size (pylibsrtp's
    own protect() stops at 1500 bytes)."""
    policy = pylibsrtp.Policy(key=KEY, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    policy.allow_repeat_tx = True
    policy.window_size = 1024
    session = pylibsrtp.Session(policy)
    buf = ffi.new("char[]", 8192)
    size = ffi.new("int *")

    def protect(plain: bytes) -> bytes:
        if len(plain) < 1400:
            return session.protect(plain)
        ffi.memmove(buf, plain, len(plain))
        size[0] = len(plain)
        assert lib.srtp_protect(session._srtp[0], buf, size) == 0
        return bytes(ffi.buffer(buf, size[0]))

    return protect


def rtcp_sender() -> Callable[[bytes], bytes]:
    """SRTCP protection with the same key (a sender's reports)."""
    policy = pylibsrtp.Policy(key=KEY, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    return pylibsrtp.Session(policy).protect_rtcp


def video_parameters(with_rtx: bool) -> RTCRtpReceiveParameters:
    feedback = [RTCRtcpFeedback(type="nack"), RTCRtcpFeedback(type="nack", parameter="pli")]
    codecs = [RTCRtpCodecParameters(
        mimeType="video/H264", clockRate=90000, payloadType=VIDEO_PT, rtcpFeedback=feedback,
        parameters={"packetization-mode": "1", "level-asymmetry-allowed": "1",
                    "profile-level-id": "42e01f"})]
    encoding = RTCRtpDecodingParameters(ssrc=VIDEO_SSRC, payloadType=VIDEO_PT)
    if with_rtx:
        codecs.append(RTCRtpCodecParameters(mimeType="video/rtx", clockRate=90000,
                                            payloadType=RTX_PT, parameters={"apt": VIDEO_PT}))
        encoding.rtx = RTCRtpRtxParameters(ssrc=RTX_SSRC)
    return RTCRtpReceiveParameters(codecs=codecs, encodings=[encoding], muxId="0")


def audio_parameters() -> RTCRtpReceiveParameters:
    codec = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2,
                                  payloadType=AUDIO_PT)
    return RTCRtpReceiveParameters(
        codecs=[codec], encodings=[RTCRtpDecodingParameters(ssrc=AUDIO_SSRC, payloadType=AUDIO_PT)],
        muxId="1")


def digest(data: bytes) -> str:
    return f"{len(data)}:{hashlib.sha256(data).hexdigest()[:16]}"


def stream_stats(rx: PassThroughReceiver) -> dict[int, tuple[Any, ...]]:
    """The RTCP receiver-report figures of each of the receiver's sources
    (aiortc's StreamStatistics, or an _rx.Track that stands in for one);
    reading fraction_lost starts a new interval, as RTCP does."""
    streams = rx._RTCRtpReceiver__remote_streams  # type: ignore[attr-defined]
    return {ssrc: (s.base_seq, s.max_seq, s.cycles, s.packets_received, s.packets_expected,
                   s.packets_lost, s.fraction_lost) for ssrc, s in sorted(streams.items())}


def nack_missing(rx: PassThroughReceiver) -> set[int]:
    generator = rx._RTCRtpReceiver__nack_generator  # type: ignore[attr-defined]
    missing = set(generator.missing) if generator is not None else set()
    for track in rx._native.values():
        missing |= track.missing
    return missing


@dataclass
class Outcome:
    log: list[tuple[Any, ...]]
    receivers: dict[str, PassThroughReceiver]
    dtls: FakeDtls
    protocol: StockProtocol
    srtp_datagrams: int
    refused: int  # datagrams libsrtp must refuse: forged, cut short or replayed

    def frames(self, kind: str = "video") -> list[tuple[str, int]]:
        return [(e[2], e[3]) for e in self.log if e[0] == "frame" and e[1] == kind]

    def summary(self) -> dict[str, Any]:
        return {name: {"frames_dropped": rx.frames_dropped(), "stats": stream_stats(rx),
                       "missing": sorted(nack_missing(rx)), "media_ssrc": rx.media_ssrc}
                for name, rx in self.receivers.items()}


async def run(plan: Plan, audio_group: int = 1) -> Outcome:
    """Deliver `plan` to a fresh transport and receiver(s); the path taken is
    whatever fastpath.install chooses (compiled unless fastpath._rx is None).
    audio_group > 1: audio is handed over in groups (logged as ("group", n)
    before the group's frames)."""
    log: list[tuple[Any, ...]] = []
    protocol = StockProtocol(log)
    dtls = FakeDtls(protocol)
    receivers: dict[str, PassThroughReceiver] = {}
    sinks: dict[str, Callable[[bytes, int], None]] = {}
    for kind, parameters in [("video", video_parameters(plan.rtx))] + (
            [("audio", audio_parameters())] if plan.audio else []):
        rx = PassThroughReceiver.adopt(PassThroughReceiver(kind, dtls))  # type: ignore[arg-type]

        def sink(data: bytes, ts: int, kind: str = kind) -> None:
            log.append(("frame", kind, digest(data), ts))

        async def pli(ssrc: int, kind: str = kind) -> None:
            log.append(("pli", kind, ssrc))

        async def nack(ssrc: int, missing: list[int], kind: str = kind) -> None:
            log.append(("nack", kind, ssrc, list(missing)))

        rx.sink = sinks[kind] = sink
        if kind == "audio" and audio_group > 1:
            def group_sink(frames: list[tuple[bytes, int]], sink: Any = sink) -> None:
                log.append(("group", len(frames)))
                for data, ts in frames:
                    sink(data, ts)

            rx.group_audio(group_sink, audio_group)
        rx._send_rtcp_pli = pli  # type: ignore[method-assign,assignment]
        rx._send_rtcp_nack = nack  # type: ignore[method-assign,assignment]
        await rx.receive(parameters)  # registers it with the router and installs the fast path
        receivers[kind] = rx
    protect = sender()
    protect_rtcp = rtcp_sender()
    datagrams = [protect(p) for p in plan.packets]
    delivered: set[int] = set()
    srtp_datagrams = refused = 0
    try:
        for action, arg in plan.steps:
            data: bytes | None = None
            if action == "srtp":
                data = datagrams[arg]
                if arg in delivered:
                    refused += 1
                delivered.add(arg)
            elif action == "tamper":
                forged = bytearray(datagrams[arg])
                forged[20] ^= 0x40
                data = bytes(forged)
                refused += 1
            elif action == "cut":
                data = datagrams[arg][:-4]
                refused += 1
            elif action == "raw":
                data = arg
                refused += is_srtp(data)
            elif action == "rtcp":  # plain RTCP, sent as SRTCP
                data = protect_rtcp(arg)
            elif action == "lsr":  # what each receiver keeps of the sender reports heard
                log.append(("lsr", {k: dict(rx._RTCRtpReceiver__lsr)  # type: ignore[attr-defined]
                                    for k, rx in receivers.items()}))
            elif action == "stats":
                log.append(("stats", {k: stream_stats(rx) for k, rx in receivers.items()}))
            elif action == "sink":
                receivers["video"].sink = sinks["video"] if arg else None
            elif action == "enabled":
                receivers["video"]._enabled = arg
            elif action == "stop":
                await receivers["video"].stop()
            elif action == "audio_group":  # someone starts (1) or stops listening live
                rx = receivers["audio"]
                rx.group_audio(rx._group_sink, arg)
            else:
                raise AssertionError(action)
            if data is not None:
                srtp_datagrams += is_srtp(data)
                try:
                    protocol.datagram_received(data, ADDR)
                except Exception as exc:  # any escape is a difference
                    log.append(("raised", repr(exc)))
            for _ in range(3):  # the PLI and NACK tasks run
                await asyncio.sleep(0)
    finally:
        for rx in receivers.values():
            await rx.stop()
    return Outcome(log, receivers, dtls, protocol, srtp_datagrams, refused)
