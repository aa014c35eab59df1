"""The compiled receive path (hub/media/_rx.c) against the Python one, packet for packet.

Each scenario is one sequence of datagrams: SRTP-protected RTP of a real H.264
stream (libx264, packetised as aiortc's H264Encoder sends it), with loss,
reordering, duplicates, wrap-arounds, padding, malformed payloads, forged and
replayed datagrams, non-SRTP datagrams, an Opus-like track and RTX. It is fed
twice, each time to a fresh fake DTLS transport (a real pylibsrtp session,
aiortc's RtpRouter, one fake ICE socket) with a fresh PassThroughReceiver put
on the fast path by `fastpath.install` (through the receiver's own `receive`):

  (a) with `hub.media._rx`: the socket's datagram_received is an `_rx.Tap` and
      every adopted track's packets are decrypted, counted and assembled in C;
  (b) with `fastpath._rx = None`: pylibsrtp, `parse_rtp`, `on_rtp`,
      FrameAssembler and aiortc's StreamStatistics/NackGenerator.

Everything the receiver does must be the same: the frames given to the sink
(bytes and RTP timestamps), the PLIs and NACK lists sent (in order, interleaved
with the frames), what reached the stock datagram_received (STUN, DTLS, RTCP),
frames_dropped(), the missing set of the NACK state and the RTCP statistics
(not jitter: it depends on the wall clock). A track is adopted into C on its
first packet (which the Python code handles); the one documented difference in
what comes out, a frame of more than 1024 packets given up (or 4 MB, which
SRTP datagrams of at most 1500 bytes cannot reach in 1024 packets), has a test
of its own. The scenarios from `unknown_payload_type` on are differences this
test found in the first version of _rx.c (fixed since): see the comment above it.
The media, the fake transport and the run of a plan are in rxrig.py.
"""

from __future__ import annotations

import random
import types
from collections.abc import Callable
from typing import Any

import pytest
from aiortc.codecs.h264 import h264_depayload
from aiortc.rtp import (
    RtcpReceiverInfo,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
)

from hub.media import fastpath
from hub.media.assembler import HOLD_FRAMES
from tests.hub.media.rxrig import (
    AUDIO_SSRC,
    FRAME_TICKS,
    RTX_PT,
    VIDEO_SSRC,
    Outcome,
    Plan,
    digest,
    native_module,
    payloads,
    rtp,
    run,
    stream_stats,
)


def clean() -> Plan:
    p = Plan()
    for k in range(12):
        p.deliver(*p.frame(k))
    return p


def random_loss() -> Plan:
    p = Plan()
    rng = random.Random(10)
    for k in range(12):
        p.deliver(*[i for i in p.frame(k) if rng.random() >= 0.1])
        if k in (3, 8):
            p.do("stats")  # fraction_lost is per interval: read it as RTCP does
    return p


def first_packet_lost() -> Plan:
    p = Plan()
    for k in range(8):
        f = p.frame(k)
        p.deliver(*(f[1:] if k in (2, 6) else f))  # 6: the STAP-A with SPS and PPS
    p.coda(7)
    return p


def marker_lost() -> Plan:
    p = Plan()
    for k in range(8):
        f = p.frame(k)
        p.deliver(*(f[:-1] if k in (2, 5) else f))
    return p


def marker_then_first_lost() -> Plan:
    """Frame 1 loses its marker (frame 2's start is then not known), frame 2
    its first packet: what is left of frame 2 is not an access unit."""
    p = Plan()
    for k in range(6):
        f = p.frame(k)
        p.deliver(*(f[:-1] if k == 1 else f[1:] if k == 2 else f))
    p.coda(5)
    return p


def reordering() -> Plan:
    p = Plan()
    f = [p.frame(k) for k in range(12)]
    p.deliver(*f[0])
    shuffled = f[1][:]
    random.Random(5).shuffle(shuffled)
    p.deliver(*shuffled)  # within a frame
    p.deliver(*f[2][:-1], f[3][0], f[2][-1], *f[3][1:])  # across frames: frame 3 starts first
    p.deliver(*reversed(f[4]))
    p.deliver(*f[5][1:])
    p.do("stats")  # an RTCP interval ends with a packet outstanding ...
    p.deliver(f[5][0])  # ... that comes in the next: more received than expected in it
    p.deliver(*[i for pair in zip(f[6], f[7], strict=False) for i in pair], *f[6][len(f[7]):],
              *f[7][len(f[6]):])  # two frames interleaved
    p.deliver(*f[8][:2], *f[9][:1], *f[8][2:], *f[9][1:])  # frame 8's tail after frame 9 began
    p.deliver(*f[10][::2], *f[10][1::2], *f[11])
    return p


def duplicates() -> Plan:
    """Datagrams that arrive twice: libsrtp's replay check drops the second."""
    p = Plan()
    f = [p.frame(k) for k in range(8)]
    p.deliver(*f[0])
    for i in f[1]:
        p.deliver(i, i)
    p.deliver(*f[2], f[2][1], *f[3], f[1][0], f[3][-1])
    p.deliver(*f[4][:-1], f[4][0], f[4][-1], *f[5], *f[6], f[6][2], *f[7])
    return p


def sequence_wrap() -> Plan:
    """Sequence numbers from 65530: frame 0 ends on 0, which is lost."""
    p = Plan(seq=65530)
    for k in range(8):
        p.deliver(*[i for i in p.frame(k) if p.info[i][0] != 0])
    p.coda(7)
    return p


def timestamp_wrap() -> Plan:
    p = Plan(ts0=(1 << 32) - 3 * FRAME_TICKS + 17)
    f = [p.frame(k) for k in range(8)]
    p.deliver(*f[0], *f[1], *f[2][:-1], *f[3], *f[4][1:], *f[5], f[4][0], *f[6], *f[7])
    p.coda(7)
    return p


def padding() -> Plan:
    p = Plan()
    p.deliver(*p.frame(0))
    p.deliver(*p.frame(1, padding=1))
    f = p.frame(2)
    p.deliver(*f)
    p.deliver(*p.frame(3, padding=255))
    p.deliver(*p.frame(4, extra={2: [b""]}))
    # a padding-only packet inside frame 5 (its payload is empty once the padding is gone)
    parts = payloads()[5]
    p.deliver(p.media(parts[0], p.ts(5)), p.media(b"", p.ts(5), padding=32),
              *[p.media(x, p.ts(5), marker=x is parts[-1]) for x in parts[1:]])
    # invalid padding (a count of 0, a count larger than the packet): not parsed, dropped
    bad_zero = p.media(b"\x41\x9a\x00", p.ts(6), padding=4, pad_value=0)
    bad_big = p.media(b"\x41\x9a\x00", p.ts(6), padding=4, pad_value=200)
    p.deliver(bad_zero, bad_big, *p.frame(6), *p.frame(7, padding=7))
    return p


def jumps() -> Plan:
    """Sequence numbers that jump (a gap of 300, longer than the NACK window
    of 128, then jumps of 20000 that wrap around) and timestamps that go back
    or jump by half their range."""
    p = Plan()
    p.deliver(*p.frame(0), *p.frame(1))
    p.seq = (p.seq + 300) & 0xFFFF
    p.deliver(*p.frame(2)[1:], *p.frame(3))
    for k in range(4, 8):
        p.seq = (p.seq + 20_000) & 0xFFFF
        p.deliver(*p.frame(k))
    p.deliver(*p.frame(8, ts=p.ts(6)))  # an emitted frame's timestamp: stragglers
    half = p.ts(7) + (1 << 31)
    p.deliver(*p.frame(9, ts=half))  # half the range ahead: not newer, stragglers too
    p.deliver(*p.frame(10, ts=half - 1), *p.frame(11, ts=half - 1 + FRAME_TICKS))
    return p


def held_behind_a_gap() -> Plan:
    """The packet hold (no RTX): a packet that comes two frames late, by
    itself, completes its frame and the two held behind it; a duplicate of a
    held packet; held across the sequence number wrap; a jump of 300 while
    packets are held (they go on at once, in order); a packet that never
    comes is given up once HOLD_FRAMES frames have ended behind it."""
    p = Plan()
    p.seq = 65530
    f = [p.frame(k) for k in range(4)]
    p.deliver(*f[0], *f[1][:1], *f[1][2:], *f[2], f[2][0], *f[3][:2])
    p.deliver(f[1][1], *f[3][2:])
    g = [p.frame(k) for k in range(4, 6)]
    p.seq = (p.seq + 300) & 0xFFFF
    h = [p.frame(k) for k in range(6, 12)]
    p.deliver(*g[0][1:], *g[1], *h[0])
    p.deliver(*h[1][:1], *h[1][2:], *h[2], *h[3], *h[4], *h[5])
    p.coda(11)
    return p


def stray_markers() -> Plan:
    """Marker bits where they do not belong, or missing."""
    p = Plan()
    p.deliver(*p.frame(0))
    p.deliver(*p.frame(1, markers={1, 4}))  # a marker inside the frame as well
    p.deliver(*p.frame(2, markers=set()))  # no marker: given up when frame 3 begins
    p.deliver(*p.frame(3), *p.frame(4, markers={0, 1, 2, 3, 4}))  # every packet marked
    f = p.frame(5, markers={2})
    p.deliver(*f[3:], *f[:3])  # the marker inside, the frame's tail first
    p.deliver(*p.frame(6), *p.frame(7))
    return p


def many_ssrcs() -> Plan:
    """The sender changes its SSRC 11 times (sequence numbers and timestamps
    go on): aiortc's router takes an unknown SSRC by its payload type, and the
    receiver takes it as before, however many there have been (the compiled
    session holds 8 tracks: the others stay in Python)."""
    p = Plan()
    for k in range(12):
        ssrc = VIDEO_SSRC + k
        parts = payloads()[k]
        p.deliver(*[p.media(x, p.ts(k), marker=n == len(parts) - 1, ssrc=ssrc)
                    for n, x in enumerate(parts)])
    return p


def parameter_sets() -> Plan:
    """Frames 0 and 6 are IDRs whose first packet is a STAP-A (SPS, PPS, SEI);
    a lone STAP-A of SPS and PPS comes before frame 3 in a packet of its own.
    After losses (a frame's start not known) what is left of a frame may begin
    with a PPS, an access unit delimiter or an SEI: it is an access unit."""
    p = Plan()
    for k in range(3):
        p.deliver(*p.frame(k))
    stap = payloads()[6][0]
    assert stap[0] & 0x1F == 24
    p.deliver(*p.frame(3, extra={0: [stap]}))
    sps = stap[3:3 + int.from_bytes(stap[1:3], "big")]
    pps = stap[5 + len(sps):]
    assert sps[0] & 0x1F == 7 and pps[0] & 0x1F == 8
    aud, sei = b"\x09\xf0", b"\x06\x05\x01\xaa\x80"
    p.deliver(*p.frame(4), *p.frame(5)[:-1])  # frame 5 loses its marker: frame 6's start is guessed
    p.deliver(*p.frame(6, extra={0: [sps, pps]})[1:])  # and it loses its SPS
    p.deliver(*p.frame(7)[:-1])
    p.deliver(*p.frame(8, extra={0: [sei, aud]})[1:])
    p.deliver(*p.frame(9)[:-1])
    p.deliver(*p.frame(10, extra={0: [aud, sei]})[1:])
    p.deliver(*p.frame(11))
    p.coda(11)
    return p


MALFORMED = [
    b"\x00\xaa\xbb",  # NAL type 0
    b"\x1e\xaa\xbb",  # NAL type 30
    b"\x18\x00\x20\x67\x42",  # STAP-A whose unit is cut short
    b"\x18\x00\x02\x67\x42\x00",  # STAP-A with half a length field
    b"\x18\x00",  # STAP-A with no length field
    b"\x19\x00\x01\xaa",  # STAP-B
    b"\x41",  # one byte
    b"\x7c",  # one byte of FU-A
]


def malformed() -> Plan:
    """Each payload the depacketiser rejects, once between frames with a
    timestamp of its own (taken, it would be a frame) and once inside a frame
    (which then cannot complete)."""
    p = Plan()
    p.deliver(*p.frame(0))
    for k in range(1, 9):
        payload = MALFORMED[k - 1]
        p.deliver(p.media(payload, p.ts(k - 1) + 3000, marker=True))
        p.deliver(*p.frame(k, extra={2: [MALFORMED[-k]]}))
    p.deliver(*p.frame(9, extra={1: [b"\x7c\x85"]}))  # FU-A start with no data: taken
    p.deliver(*p.frame(10), *p.frame(11))
    return p


def empty_payloads() -> Plan:
    p = Plan()
    p.deliver(*p.frame(0))
    p.deliver(*p.frame(1, extra={2: [b""]}))  # an empty packet inside a frame
    p.deliver(*p.frame(2, tail=b""))  # an empty packet carries the marker
    p.deliver(p.media(b"", p.ts(2) + 3000))  # an empty packet of a timestamp of its own
    p.deliver(*p.frame(3))
    p.deliver(p.media(b"", p.ts(3) + 3000, marker=True))  # and one that is a whole frame
    for k in range(4, 8):
        p.deliver(*p.frame(k))
    return p


def forged_and_replayed() -> Plan:
    p = Plan()
    f = [p.frame(k) for k in range(8)]
    p.deliver(*f[0])
    p.do("tamper", f[1][0])  # a payload byte changed: authentication fails
    p.deliver(*f[1])  # the genuine packet still gets through
    p.do("tamper", f[2][-1])
    p.do("cut", f[2][1])  # the authentication tag cut short
    p.deliver(*f[2])
    p.deliver(*f[3], f[1][2])  # an old datagram replayed
    p.do("cut", f[4][2])
    p.deliver(*f[4][:2], *f[4][3:])  # the cut packet is never delivered whole: frame 4 lost
    p.deliver(*f[5], f[5][-1], *f[6], f[0][0], *f[7])
    return p


STUN = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + bytes(range(12))
NON_SRTP = [
    STUN,
    b"\x80\xc8\x00\x06" + bytes(range(24)) + b"\x80\x00\x00\x01" + bytes(10),  # SRTCP SR
    b"\x81\xc9\x00\x07" + bytes(28) + b"\x80\x00\x00\x02" + bytes(10),  # SRTCP RR
    b"\x80\xd0\x00\x02" + bytes(20),  # second byte 208: the top of the RTCP range
    b"\xc0\x60" + bytes(30),  # first byte 192: not RTP (RFC 7983)
    bytes([22, 0xFE, 0xFD]) + bytes(20),  # a DTLS record
    rtp(1, 2, b"")[:12],  # 12 bytes: too short to be SRTP
    b"\x01",
]
# taken for SRTP by both paths (and refused by libsrtp): second byte 209, first byte 191
NOT_AUTHENTIC = [b"\x80\xd1" + bytes(30), b"\xbf\x60" + bytes(30)]


def non_srtp() -> Plan:
    p = Plan()
    p.do("raw", NON_SRTP[0])  # before the first media packet too
    for k in range(9):
        f = p.frame(k)
        p.deliver(*f[:2])
        if k < len(NON_SRTP):
            p.do("raw", NON_SRTP[k])
        if k < len(NOT_AUTHENTIC):
            p.do("raw", NOT_AUTHENTIC[k])
        if k == 3:  # SRTP of a source no receiver takes (unknown SSRC and payload type)
            p.deliver(p.add(rtp(1, 2, b"\x41\x9a\x00", ssrc=0x99, pt=99, marker=True)))
        p.deliver(*f[2:])
    return p


def extensions_and_csrc() -> Plan:
    p = Plan()
    ext = b"\x10\xaa\x21\xbb\xcc\x00\x00\x00"  # RFC 8285 one-byte elements and padding
    p.deliver(*p.frame(0, ext=ext))
    p.deliver(*p.frame(1, csrc=(1, 2, 3)))
    p.deliver(*p.frame(2, ext=ext, csrc=(7,)))
    p.deliver(*p.frame(3, ext=ext, padding=3))
    p.deliver(*p.frame(4))
    return p


def audio() -> Plan:
    """An Opus-like track on the same transport as the video (BUNDLE)."""
    p = Plan(audio=True)
    rng = random.Random(4)
    a = [p.opus(k, bytes(rng.randrange(256) for _ in range(20 + k))) for k in range(30)]
    empty = p.opus(30, b"")
    pad_only = p.opus(31, b"", padding=12)
    a += [empty, pad_only] + [p.opus(k, bytes([k]) * 40) for k in range(32, 40)]
    f = [p.frame(k) for k in range(6)]
    order = [*a[:4], *f[0], *a[4:6], *f[1][:2], *a[7:9], *f[1][2:], a[10], a[9], *f[2], a[11],
             *a[12:14], a[12], *f[3], *a[14:30], a[30], a[31], *f[4], *a[32:36], *f[5], *a[37:]]
    p.deliver(*order)  # a[6] and a[36] lost, a[9] and a[10] swapped, a[12] twice
    return p


NTP = 0x0123456789ABCDEF  # a sender report's NTP time; its middle 32 bits are the LSR


def sender_report(ssrc: int, ntp: int, blocks: int = 0) -> bytes:
    reports = [RtcpReceiverInfo(ssrc=0x5151 + k, fraction_lost=0, packets_lost=0, highest_sequence=1,
                                jitter=0, lsr=0, dlsr=0) for k in range(blocks)]
    return bytes(RtcpSrPacket(ssrc=ssrc, sender_info=RtcpSenderInfo(
        ntp_timestamp=ntp, rtp_timestamp=1, packet_count=2, octet_count=3), reports=reports))


def sender_reports() -> Plan:
    """SRTCP from the hall: compound sender reports (with SDES, as aiortc and
    browsers send them) reach the receivers, not the stock path."""
    p = Plan(audio=True)
    sdes = bytes(RtcpSdesPacket(chunks=[RtcpSourceInfo(ssrc=VIDEO_SSRC, items=[(1, b"hall")])]))
    f = [p.frame(k) for k in range(3)]
    a = [p.opus(k, bytes([k]) * 30) for k in range(3)]
    p.deliver(*f[0], a[0])
    p.do("lsr")
    p.do("rtcp", sender_report(VIDEO_SSRC, NTP) + sdes)
    p.deliver(*f[1], a[1])
    p.do("lsr")
    p.do("rtcp", sdes + sender_report(AUDIO_SSRC, NTP + (5 << 16)))
    p.do("rtcp", sender_report(VIDEO_SSRC, NTP + (3 << 16), blocks=1))  # parsed by aiortc
    p.do("rtcp", sender_report(VIDEO_SSRC, NTP + (9 << 16))[:-4])  # cut short: dropped whole
    p.do("rtcp", sender_report(VIDEO_SSRC, NTP + (7 << 16))[:8] + sdes)  # a length past its end
    p.deliver(*f[2], a[2])
    p.do("lsr")
    return p


def rtx() -> Plan:
    """Retransmissions on their own SSRC (RFC 4588), unwrapped by the receiver."""
    p = Plan(rtx=True)
    f = [p.frame(k) for k in range(10)]
    p.deliver(*f[0])
    p.deliver(*f[1][:2], *f[1][3:], p.retransmit(f[1][2]))  # completes frame 1
    p.deliver(*f[2][:-1], p.retransmit(f[2][-1]))  # the marker packet, retransmitted
    p.deliver(*f[3][1:], *f[4], p.retransmit(f[3][0]))  # in time: frame 3 and 4 were held for it
    p.deliver(*f[5][:2], p.retransmit(f[5][0]), *f[5][2:])  # a packet that had arrived
    p.deliver(p.rtx_packet(b"", p.ts(5), padding=200))  # padding only (bandwidth probing)
    p.deliver(p.rtx_packet(b"\x01", p.ts(5)))  # too short to hold a sequence number
    p.deliver(*f[6][:1], *f[6][2:], *f[7][:1])  # frame 6 lost a packet and frame 7 began
    p.deliver(p.retransmit(f[6][1]), *f[7][1:])
    lost = f[8][1:3]
    p.deliver(f[8][0], *f[8][3:], *[p.retransmit(i) for i in reversed(lost)], *f[9])
    return p


def sink_detached() -> Plan:
    """No sink for a while (frames complete all the same, and are not passed on)."""
    p = Plan()
    f = [p.frame(k) for k in range(6)]
    p.deliver(*f[0], *f[1][:2])
    p.do("sink", False)
    p.deliver(*f[1][2:], *f[2])
    p.do("sink", True)
    p.deliver(*f[3], *f[4], *f[5])
    return p


# The first version of the compiled path differed from the Python one in the
# scenarios below (found by this test; each docstring says what the Python path
# does, which is what the test asserts): it handed an adopted SSRC's packets to
# its track regardless of the payload type, the receiver's _enabled flag or
# whether the receiver was stopped; and it decrypted datagrams of up to 4096
# bytes where pylibsrtp (the Python path's buffer) stops at 1500.


def unknown_payload_type() -> Plan:
    """Packets of the video SSRC with a payload type the receiver does not
    take (99) or with the RTX payload type: the Python path drops them (the
    router finds no receiver for PT 99; on_rtp ignores RTX on the media SSRC)."""
    p = Plan(rtx=True)
    p.deliver(*p.frame(0), *p.frame(1))
    p.deliver(p.media(b"\x41\x9a\x01\x02", p.ts(2), pt=99, marker=True))
    p.deliver(*p.frame(3))
    p.deliver(p.media(b"\x65\x88\x01\x02", p.ts(4), pt=RTX_PT, marker=True))
    p.deliver(*p.frame(5), *p.frame(6))
    return p


def receiver_disabled() -> Plan:
    """The transceiver's direction became sendonly (aiortc sets
    receiver._enabled = False): the receiver ignores media until re-enabled."""
    p = Plan()
    p.deliver(*p.frame(0), *p.frame(1))
    p.do("enabled", False)
    p.deliver(*p.frame(2), *p.frame(3))
    p.do("enabled", True)
    p.deliver(*p.frame(4), *p.frame(5))
    return p


def receiver_stopped() -> Plan:
    """RTCRtpReceiver.stop() unregisters the receiver from the transport's
    router: packets that still arrive reach no receiver."""
    p = Plan()
    p.deliver(*p.frame(0), *p.frame(1))
    p.do("stop")
    p.deliver(*p.frame(2), *p.frame(3))
    return p


def oversized_datagram() -> Plan:
    """A 1600-byte datagram: pylibsrtp's buffer is 1500 bytes, so the Python
    path (and aiortc's) drops it."""
    p = Plan()
    p.deliver(*p.frame(0), *p.frame(1))
    big = p.media(b"\x41\x9a" + bytes(1560), p.ts(1) + 3000, marker=True)
    assert 1500 < len(p.packets[big]) + 10 < 4096
    p.deliver(big)
    p.deliver(*p.frame(2), *p.frame(3))
    return p


SCENARIOS: dict[str, Callable[[], Plan]] = {
    f.__name__: f for f in (
        clean, random_loss, first_packet_lost, marker_lost, marker_then_first_lost, reordering,
        duplicates, sequence_wrap, timestamp_wrap, jumps, stray_markers, padding, parameter_sets,
        malformed, empty_payloads, forged_and_replayed, non_srtp, extensions_and_csrc, audio,
        sender_reports,
        rtx, held_behind_a_gap, sink_detached, many_ssrcs,
        # where the first compiled path differed (see above)
        unknown_payload_type, receiver_disabled, receiver_stopped, oversized_datagram,
    )
}


# ------------------------------------------------------------------ the tests


@pytest.mark.parametrize("name", SCENARIOS)
async def test_compiled_path_matches_python_path(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rx_module = native_module()
    assert fastpath._rx is rx_module
    plan = SCENARIOS[name]()
    compiled = await run(plan)
    with monkeypatch.context() as m:
        m.setattr(fastpath, "_rx", None)
        python = await run(plan)

    # (a) really ran in C, (b) really in Python
    session = fastpath.native_session(compiled.dtls)  # type: ignore[arg-type]
    assert session is not None
    assert isinstance(compiled.protocol.datagram_received, rx_module.Tap)
    counters = session.counters()
    assert counters["datagrams"] == compiled.srtp_datagrams
    assert counters["decrypt_failed"] == compiled.refused
    for kind, rx in compiled.receivers.items():
        media = AUDIO_SSRC if kind == "audio" else VIDEO_SSRC
        assert media in rx._native, f"the {kind} track was not adopted into C"
        assert rx._RTCRtpReceiver__remote_streams[media] is rx._native[media]  # type: ignore[attr-defined]
    assert fastpath.native_session(python.dtls) is None  # type: ignore[arg-type]
    assert all(not rx._native for rx in python.receivers.values())
    assert isinstance(python.protocol.datagram_received, types.MethodType)

    # the same frames, PLIs, NACKs and stock datagrams, in the same order
    assert [e for e in compiled.log if e[0] == "frame"] == [e for e in python.log if e[0] == "frame"]
    assert [e for e in compiled.log if e[0] == "pli"] == [e for e in python.log if e[0] == "pli"]
    assert [e for e in compiled.log if e[0] == "nack"] == [e for e in python.log if e[0] == "nack"]
    assert compiled.log == python.log
    assert compiled.summary() == python.summary()
    check_python_path(name, python)


def expected_frame(k: int) -> str:
    """Access unit k as a receiver puts it together: every NAL unit behind a
    4-byte start code (aiortc's own depacketiser)."""
    return digest(b"".join(h264_depayload(p) for p in payloads()[k]))


def check_python_path(name: str, python: Outcome) -> None:
    """What the reference (Python) path must have done in some scenarios, so
    that no scenario passes by both paths doing nothing."""
    units = [expected_frame(k) for k in range(12)]
    coda = units[1:HOLD_FRAMES + 1]  # Plan.coda's frames, after the ones asserted
    frames = [d for d, _ in python.frames()]
    assert all(e[0] != "raised" for e in python.log)
    if name == "clean":
        assert python.frames() == [(u, 90_000 + k * FRAME_TICKS) for k, u in enumerate(units)]
        assert not [e for e in python.log if e[0] in ("pli", "nack")]
        stats = stream_stats(python.receivers["video"])[VIDEO_SSRC]
        assert stats[3] == stats[4] == sum(len(p) for p in payloads()) and stats[5] == 0
    if name == "non_srtp":
        # SRTCP (second byte 192-208) is decrypted by the hub (fastpath.receive_rtcp):
        # these forged ones are dropped there; the rest goes to aioice
        not_rtcp = [d for d in NON_SRTP if not (127 < d[0] < 192 and 191 < d[1] < 209)]
        assert len(not_rtcp) == len(NON_SRTP) - 3
        assert [e[1] for e in python.log if e[0] == "stock"] == not_rtcp[:1] + not_rtcp
        assert frames == units[:9]
    if name == "sender_reports":
        lsr = [e[1] for e in python.log if e[0] == "lsr"]
        middle = (NTP >> 16) & 0xFFFFFFFF
        assert lsr == [{"video": {}, "audio": {}},
                       {"video": {VIDEO_SSRC: middle}, "audio": {}},
                       {"video": {VIDEO_SSRC: middle + 3}, "audio": {AUDIO_SSRC: middle + 5}}]
        assert not [e for e in python.log if e[0] == "stock"]
        assert frames == units[:3]
    if name == "first_packet_lost":
        assert frames == [units[k] for k in (0, 1, 3, 4, 5, 7)] + coda
    if name == "marker_then_first_lost":
        assert frames == [units[0], units[3], units[4], units[5]] + coda
    if name == "rtx":
        # every retransmission came within the hold: no frame lost, no keyframe asked for
        assert frames == units[:10]
        assert not [e for e in python.log if e[0] == "pli"]
    if name == "audio":
        assert len(python.frames("audio")) == 40 - 2 - 2  # 2 lost, 2 empty
    if name == "sequence_wrap":
        assert stream_stats(python.receivers["video"])[VIDEO_SSRC][2] == 1 << 16
        assert frames == units[1:8] + coda
    if name == "timestamp_wrap":
        assert [ts for _, ts in python.frames()][-1] < FRAME_TICKS * (8 + HOLD_FRAMES)
    if name == "parameter_sets":
        sps_pps = h264_depayload(payloads()[6][0])
        three = digest(sps_pps + b"".join(h264_depayload(p) for p in payloads()[3]))
        assert frames[:5] == units[:3] + [three, units[4]]
        assert len(frames) == 9 + len(coda) and frames[8] == units[11]  # 6, 8 and 10 passed on
    if name in ("receiver_stopped", "receiver_disabled"):
        assert units[2] not in frames and units[3] not in frames
    if name == "held_behind_a_gap":
        # 4 lost its first packet; 6 begins after the jump, where the assembler does not
        # look for it (as without the hold); 7's packet never came
        assert frames == [units[k] for k in (0, 1, 2, 3, 5, 8, 9, 10, 11)] + coda
        assert len([e for e in python.log if e[0] == "pli"]) == 3
    if name == "many_ssrcs":
        assert frames == units


def giant_frame() -> Plan:
    """Frame 1 is 1102 packets (FU-A fragments of one slice), then frames go on."""
    p = Plan()
    p.deliver(*p.frame(0))
    ts = p.ts(1)
    giant = [p.media(b"\x7c\x85" + bytes(8), ts)]
    giant += [p.media(b"\x7c\x05" + bytes(8), ts) for _ in range(1100)]
    giant.append(p.media(b"\x7c\x45" + bytes(8), ts, marker=True))
    p.deliver(*giant)
    p.ts0 += FRAME_TICKS  # access units 1-3 come after it
    for k in range(1, 4):
        p.deliver(*p.frame(k))
    return p


async def test_a_frame_of_more_than_1024_packets_is_given_up_in_c(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The documented difference: the compiled path gives such a frame up and
    asks for a keyframe; everything else is as in Python."""
    native_module()
    plan = giant_frame()
    compiled = await run(plan)
    with monkeypatch.context() as m:
        m.setattr(fastpath, "_rx", None)
        python = await run(plan)
    stamps = [90_000 + k * FRAME_TICKS for k in range(5)]  # the giant frame's is stamps[1]
    assert [ts for _, ts in python.frames()] == stamps
    assert python.frames()[1][0].startswith(f"{5 + 1102 * 8}:")
    assert not [e for e in python.log if e[0] in ("pli", "nack")]
    assert compiled.frames() == [f for f in python.frames() if f[1] != stamps[1]]
    assert compiled.frames() == [(expected_frame(k), stamps[k + (k > 0)]) for k in range(4)]
    plis = [e for e in compiled.log if e[0] == "pli"]
    assert plis and set(plis) == {("pli", "video", VIDEO_SSRC)}
    assert not [e for e in compiled.log if e[0] in ("nack", "raised")]
    assert python.receivers["video"].frames_dropped() == 0
    assert compiled.receivers["video"].frames_dropped() >= 1
    assert compiled.summary()["video"]["stats"] == python.summary()["video"]["stats"]


async def test_audio_in_groups_is_the_same_audio() -> None:
    """Audio handed over in groups (nobody listening live) is the same frames
    in the same order; a group goes out full, what is held goes out when
    grouping stops (someone listens) and when the receiver stops."""
    plan = audio()  # 36 audio frames handed over (two lost, one twice, two empty)
    plan.deliver(plan.opus(40, b"\x28" * 30), plan.opus(41, b"\x29" * 30))
    plan.do("audio_group", 1)
    for k in range(42, 49):  # each as it comes
        plan.deliver(plan.opus(k, bytes([k]) * 30))
    plan.do("audio_group", 6)
    for k in range(49, 52):
        plan.deliver(plan.opus(k, bytes([k]) * 30))
    each = await run(plan)
    grouped = await run(plan, audio_group=6)

    def audio_frames(outcome: Outcome) -> list[tuple[Any, ...]]:
        return [e for e in outcome.log if e[0] == "frame" and e[1] == "audio"]

    assert audio_frames(grouped) == audio_frames(each)
    assert len(audio_frames(each)) == 38 + 7 + 3
    assert not [e for e in each.log if e[0] == "group"]
    groups = [e[1] for e in grouped.log if e[0] == "group"]
    # 38 frames in groups of 6 (2 held when grouping stops), the 7 in between one
    # by one, then 3 held until the receiver stops
    assert groups == [6] * 6 + [2, 3]
    assert [e for e in grouped.log if e[0] == "frame" and e[1] == "video"] == \
        [e for e in each.log if e[0] == "frame" and e[1] == "video"]
