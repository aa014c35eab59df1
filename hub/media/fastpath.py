"""The hub's receive path for SRTP media: from the socket to the receiver in
one synchronous call.

Stock aioice/aiortc hand every datagram through a chain built for generality:
aioice's `datagram_received` first tries to parse it as STUN (and catches the
ValueError an RTP packet raises), puts it on an `asyncio.Queue`, which wakes
the DTLS transport's receive task, which computes an arrival time from a
`datetime` (unused by the hub's receivers), decrypts, parses and awaits two
more coroutines per packet. Profiled under `branchlive bench ingest` that
chain, not the media work, was the largest share of the hub's CPU.

For a connection whose SRTP keys are set, `install` makes its sockets hand
SRTP datagrams straight to `_receive_rtp`: decrypt, parse the
fixed header (`parse_rtp`), route by SSRC/payload type, and call
the receiver's synchronous `on_rtp`. SRTCP goes to `receive_rtcp` the same
way: decrypted, its sub-packets parsed by aiortc (SDES skipped: aiortc routes
it to nobody) and handed to each recipient aiortc's router names, a
receiver's synchronous `on_rtcp` or any other's own coroutine. Everything
else (STUN, DTLS, datagrams before the handshake) still takes aioice's path,
so ICE consent and DTLS work as before.

When the compiled module `hub.media._rx` is there (built from _rx.c by pip),
the whole per-packet path for an adopted track runs in C: a socket's
`datagram_received` becomes an `_rx.Tap`, and decrypting, parsing, the
statistics, NACK and frame assembly cost no Python (passthrough.py adopts
each track's SSRC on its first packet). Without it (no compiler where the
package was built) the Python functions below do the same work.

With the compiled module, the hub also reads those sockets itself
(`BatchedDatagramTransport`): uvloop's UDP transport (libuv) makes one
recvmsg call per datagram and one more that finds the socket empty, and at
256 halls those system calls were a third of the event loop's time (py-spy
--native). `_rx.Tap.drain` reads up to 32 datagrams per recvmmsg call and
hands SRTP to the C path from its own buffer.

These are per-instance replacements of aioice/aiortc internals (never a class
patch: clients in the same process keep the stock path), written against
aiortc 1.16.0, aioice 0.13.0 and pylibsrtp 1.0.0. They read
`RTCIceTransport._connection`, aioice `Connection._protocols`,
`RTCDtlsTransport._rx_srtp` and `._rtp_router`, and pylibsrtp's session
buffer (`_unprotector`). If an upgrade renames any of
these, `install` leaves the connection on the stock path (tests/hub/media
checks that the fast path is in use, so such an upgrade fails loudly).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import struct
import types
from collections.abc import Callable
from typing import Any

import pylibsrtp
from aioice.ice import StunProtocol
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtp import HeaderExtensions, RtcpPacket

try:
    from hub.media import _rx
except ImportError:  # built without a compiler: the Python path below
    _rx = None  # type: ignore[assignment]

log = logging.getLogger(__name__)
_warned = False

_RTP_HEADER = struct.Struct("!BBHLL")
_NO_EXTENSIONS = HeaderExtensions()  # shared, never written


class RtpHeader:
    """The fields of an RTP packet the hub's receivers read; parsing them
    without header extensions costs a third of aiortc's `RtpPacket.parse`
    (the hub reads no extension: no REMB, no audio level)."""

    __slots__ = ("marker", "payload_type", "sequence_number", "timestamp", "ssrc", "payload",
                 "padding_size", "csrc", "extensions")

    def __init__(self, b1: int, seq: int, ts: int, ssrc: int, payload: bytes, padding: int) -> None:
        self.marker = b1 >> 7
        self.payload_type = b1 & 0x7F
        self.sequence_number = seq
        self.timestamp = ts
        self.ssrc = ssrc
        self.payload = payload
        self.padding_size = padding
        self.csrc: list[int] = []
        self.extensions = _NO_EXTENSIONS


def parse_rtp(data: bytes) -> RtpHeader | None:
    """The header fields and payload of a decrypted RTP packet; None when it
    is malformed (dropped, as aiortc drops what it cannot parse)."""
    if len(data) < 12:
        return None
    b0, b1, seq, ts, ssrc = _RTP_HEADER.unpack_from(data)
    if b0 >> 6 != 2:
        return None
    pos = 12 + 4 * (b0 & 0x0F)
    if b0 & 0x10:
        if len(data) < pos + 4:
            return None
        pos += 4 + 4 * int.from_bytes(data[pos + 2:pos + 4], "big")
    end = len(data)
    padding = 0
    if b0 & 0x20:
        padding = data[-1]
        end -= padding
    if not pos <= end <= len(data) or (b0 & 0x20 and not padding):
        return None
    return RtpHeader(b1, seq, ts, ssrc, data[pos:end], padding)


def _dispatch(dtls: RTCDtlsTransport, packet: RtpHeader) -> None:
    receiver = dtls._rtp_router.route_rtp(packet)  # type: ignore[arg-type]
    if receiver is None:
        return
    on_rtp = getattr(receiver, "on_rtp", None)  # a PassThroughReceiver
    if on_rtp is not None:
        on_rtp(packet)
    else:  # a receiver the hub did not adopt: aiortc's own (async) handling
        asyncio.ensure_future(receiver._handle_rtp_packet(packet, arrival_time_ms=0))  # type: ignore[arg-type]


async def _handle_rtp_data(self: RTCDtlsTransport, data: bytes, arrival_time_ms: int) -> None:
    packet = parse_rtp(data)
    if packet is None:
        return
    receiver = self._rtp_router.route_rtp(packet)  # type: ignore[arg-type]
    on_rtp = getattr(receiver, "on_rtp", None)
    if on_rtp is not None:
        on_rtp(packet)
    elif receiver is not None:
        await receiver._handle_rtp_packet(packet, arrival_time_ms=arrival_time_ms)  # type: ignore[arg-type]


def install_rtp_parser(dtls: RTCDtlsTransport) -> None:
    """Make `dtls` parse RTP that reaches it by aiortc's own path (before the
    fast path is installed, or without it) with `parse_rtp`."""
    dtls._handle_rtp_data = types.MethodType(_handle_rtp_data, dtls)  # type: ignore[method-assign]


def _unprotector(srtp: pylibsrtp.Session) -> Callable[[bytes], bytes | None]:
    """`srtp.unprotect` without its per-call allocation (a C int) and checks:
    half of its cost on a 1 kB packet is Python (measured 2.4 us of CPU per
    packet, 1.2 us calling libsrtp directly). Falls back to the public call
    when pylibsrtp's internals differ from 1.0."""
    try:
        from pylibsrtp._binding import ffi, lib

        buf, cdata, ctx = srtp._buffer, srtp._cdata, srtp._srtp[0]  # type: ignore[attr-defined]
    except (ImportError, AttributeError):
        def public(data: bytes) -> bytes | None:
            try:
                return srtp.unprotect(data)
            except (pylibsrtp.Error, ValueError):  # ValueError: longer than libsrtp takes
                return None
        return public
    size = ffi.new("int *")
    unprotect, cap = lib.srtp_unprotect, len(cdata)

    def direct(data: bytes) -> bytes | None:
        n = len(data)
        if n > cap:
            return None
        size[0] = n
        buf[0:n] = data
        if unprotect(ctx, cdata, size):
            return None  # replayed, or failed authentication: dropped, as aiortc does
        return buf[0:size[0]]  # a copy: the buffer is reused

    return direct


def _receive_rtp(dtls: RTCDtlsTransport, unprotect: Callable[[bytes], bytes | None], data: bytes) -> None:
    plain = unprotect(data)
    if plain is None:
        return
    packet = parse_rtp(plain)
    if packet is not None:
        _dispatch(dtls, packet)


_RTCP_SR, _RTCP_SDES = 200, 202
_SR_HEAD = struct.Struct("!LQ")  # sender SSRC, NTP time


def receive_rtcp(dtls: RTCDtlsTransport, data: bytes) -> None:
    """One SRTCP datagram of `dtls`, on the event loop, synchronously.

    The stock path put it on aioice's queue, woke the DTLS task, stamped it
    with a `datetime`, parsed every SDES item and awaited each recipient in
    turn: ~90 us of the loop per report at 256 halls (py-spy), for three
    reports per hall per second. Here: one decryption, aiortc's parser on the
    sub-packets a recipient exists for, and a synchronous call for the hub's
    receivers (`on_rtcp`); a sender's handling (a viewer's NACK, PLI and
    receiver reports) is still aiortc's coroutine, scheduled in arrival order."""
    try:
        plain = dtls._rx_srtp.unprotect_rtcp(data)
    except (pylibsrtp.Error, ValueError):
        return  # replayed, failed authentication, too long: dropped, as aiortc drops it
    router = dtls._rtp_router
    end = len(plain)
    pos = 0
    while pos + 4 <= end:
        size = 4 * (int.from_bytes(plain[pos + 2:pos + 4], "big") + 1)
        if pos + size > end:
            return  # a truncated compound: the rest is dropped, as aiortc drops it whole
        kind = plain[pos + 1]
        if kind == _RTCP_SR and size == 28 and plain[pos] & 0x1F == 0:
            # a sender report without report blocks (what a hall's senders send):
            # its one recipient is the receiver of that source, told directly
            ssrc, ntp = _SR_HEAD.unpack_from(plain, pos + 4)
            on_sender_report = getattr(router.ssrc_table.get(ssrc), "on_sender_report", None)
            if on_sender_report is not None:
                on_sender_report(ssrc, ntp)
                pos += size
                continue
        if kind != _RTCP_SDES:
            try:
                packets = RtcpPacket.parse(plain[pos:pos + size])
            except ValueError:
                return
            for packet in packets:
                for recipient in router.route_rtcp(packet):
                    on_rtcp = getattr(recipient, "on_rtcp", None)
                    if on_rtcp is not None:
                        on_rtcp(packet)
                    else:
                        asyncio.ensure_future(recipient._handle_rtcp_packet(packet))  # type: ignore[arg-type]
        pos += size


def _native_session(dtls: RTCDtlsTransport, srtp: pylibsrtp.Session) -> Any:
    """The compiled receive state for `dtls`, or None (Python path). It calls
    the libsrtp function pylibsrtp loaded, on pylibsrtp's session, which it
    keeps alive."""
    global _warned
    if _rx is None:
        if not _warned:
            _warned = True
            log.warning("hub.media._rx is not built (no C compiler where this package was built): "
                        "media is received by the Python path, at about 1.5 times the CPU per hall; "
                        "rebuild the package with gcc and python3-dev installed")
        return None
    try:
        from pylibsrtp._binding import ffi, lib

        fn = int(ffi.cast("uintptr_t", ffi.addressof(lib, "srtp_unprotect")))
        ctx = int(ffi.cast("uintptr_t", srtp._srtp[0]))  # type: ignore[attr-defined]
    except (ImportError, AttributeError, TypeError):
        log.warning("pylibsrtp internals differ from 1.0: media stays on the Python receive path")
        return None

    def slow(plain: bytes) -> None:  # a packet of no adopted track: routed in Python
        packet = parse_rtp(plain)
        if packet is not None:
            _dispatch(dtls, packet)

    return _rx.Session(fn, ctx, srtp, slow)


def native_session(dtls: RTCDtlsTransport) -> Any:
    """`dtls`'s compiled receive state (tracks are adopted into it), or None."""
    return getattr(dtls, "_hub_rx", None)


def install(dtls: RTCDtlsTransport) -> bool:
    """Put `dtls`'s ICE sockets on the fast path once its SRTP session is up.
    Returns False (stock path) when aiortc/aioice look different from the
    versions this was written against."""
    srtp: Any = getattr(dtls, "_rx_srtp", None)
    ice = getattr(dtls.transport, "_connection", None)
    protocols = getattr(ice, "_protocols", None)
    if srtp is None or not hasattr(dtls, "_rtp_router") or not isinstance(protocols, list):
        log.warning("aiortc internals differ from 1.16: media stays on the stock receive path")
        return False
    session = native_session(dtls)
    if session is None:
        if _rx is not None and not isinstance(srtp, NativeSrtp):
            srtp = dtls._rx_srtp = NativeSrtp.wrap(srtp)
            tx = getattr(dtls, "_tx_srtp", None)
            if tx is not None and not isinstance(tx, NativeSrtp):
                dtls._tx_srtp = NativeSrtp.wrap(tx)
        session = _native_session(dtls, srtp)
        dtls._hub_rx = session  # type: ignore[attr-defined]
    unprotect = _unprotector(srtp) if session is None else None
    rtcp = functools.partial(receive_rtcp, dtls)
    for protocol in protocols:
        if getattr(protocol, "_hub_fast_path", False):
            continue
        stock = protocol.datagram_received
        if session is not None:
            tap = _rx.Tap(session, stock, rtcp)  # type: ignore[union-attr]
            protocol.datagram_received = tap
            if isinstance(protocol, StunProtocol):
                _read_in_batches(protocol, tap)
        else:
            def datagram_received(self: Any, data: bytes, addr: tuple[Any, ...],
                                  stock: Any = stock, unprotect: Any = unprotect,
                                  rtcp: Any = rtcp) -> None:
                # SRTP: first byte 128-191 (RFC 7983), second byte not an RTCP type
                if len(data) > 12 and 127 < data[0] < 192:
                    if 191 < data[1] < 209:
                        rtcp(data)
                    else:
                        _receive_rtp(dtls, unprotect, data)
                else:
                    stock(data, addr)

            protocol.datagram_received = types.MethodType(datagram_received, protocol)  # type: ignore[method-assign]
        protocol._hub_fast_path = True  # type: ignore[attr-defined]
    return True


def compile_srtp(dtls: RTCDtlsTransport) -> bool:
    """Put `dtls`'s SRTP sessions on `_rx.Crypt` (a viewer's connection: every
    packet relayed to it is protected there). False when not built or not up."""
    if _rx is None:
        return False
    done = False
    for name in ("_tx_srtp", "_rx_srtp"):
        session = getattr(dtls, name, None)
        if session is not None and not isinstance(session, NativeSrtp):
            setattr(dtls, name, NativeSrtp.wrap(session))
        done = done or isinstance(getattr(dtls, name, None), NativeSrtp)
    return done


def _ice_protocols(dtls: RTCDtlsTransport) -> list[Any]:
    """aioice's protocols (one per local socket) under `dtls`, or []."""
    return getattr(getattr(dtls.transport, "_connection", None), "_protocols", None) or []


def installed(dtls: RTCDtlsTransport) -> bool:
    """Whether `dtls`'s sockets are on the fast path (tests)."""
    protocols = _ice_protocols(dtls)
    return bool(protocols) and all(getattr(p, "_hub_fast_path", False) for p in protocols)


class NativeSrtp:
    """A pylibsrtp.Session whose protect, protect_rtcp, unprotect and
    unprotect_rtcp are `_rx.Crypt`: the same libsrtp calls on the same
    session, without releasing the GIL (pylibsrtp's cffi calls release it,
    and the event loop then waited for a recording thread to give it back,
    for every RTCP report sent or received). Anything else is the session's."""

    __slots__ = ("session", "protect", "protect_rtcp", "unprotect", "unprotect_rtcp")

    def __init__(self, session: pylibsrtp.Session, crypt: Callable[[str, int], Any]) -> None:
        self.session = session
        self.protect = crypt("srtp_protect", pylibsrtp.SRTP_MAX_TRAILER_LEN)
        self.protect_rtcp = crypt("srtp_protect_rtcp", pylibsrtp.SRTP_MAX_SRTCP_TRAILER_LEN)
        self.unprotect = crypt("srtp_unprotect", 0)
        self.unprotect_rtcp = crypt("srtp_unprotect_rtcp", 0)

    @classmethod
    def wrap(cls, session: pylibsrtp.Session) -> Any:
        """`session` compiled, or `session` itself when pylibsrtp's internals differ."""
        try:
            from pylibsrtp._binding import ffi, lib

            ctx = int(ffi.cast("uintptr_t", session._srtp[0]))  # type: ignore[attr-defined]

            def crypt(name: str, trailer: int) -> Any:
                fn = int(ffi.cast("uintptr_t", ffi.addressof(lib, name)))
                return _rx.Crypt(fn, ctx, session, trailer, pylibsrtp.Error, pylibsrtp.ERRORS)  # type: ignore[union-attr]

            return cls(session, crypt)
        except (ImportError, AttributeError, TypeError):
            return session

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)


class BatchedDatagramTransport(asyncio.DatagramTransport):
    """An ICE socket the hub reads itself, a batch of datagrams per readiness
    event (`_rx.Tap.drain`), in place of the event loop's UDP transport.
    aioice's StunProtocol only sends through its transport and closes it;
    that is all this does besides reading."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, protocol: Any, tap: Any,
                 extra: dict[str, Any]) -> None:
        super().__init__(extra)
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self._protocol = protocol
        self._tap = tap
        self._closing = False
        self.sends_dropped = 0  # the socket's send buffer was full (UDP: the datagram is gone)
        loop.add_reader(self._fd, self._readable)

    def _readable(self) -> None:
        try:
            self._tap.drain(self._fd, self._callback_failed)
        except OSError as exc:  # ECONNREFUSED after an ICMP message, as the loop's transport reports it
            self._protocol.error_received(exc)

    def _callback_failed(self, exc: BaseException) -> None:
        self._loop.call_exception_handler({
            "message": "exception in datagram_received of an ICE socket", "exception": exc,
            "transport": self, "protocol": self._protocol})

    def sendto(self, data: bytes | bytearray | memoryview, addr: Any = None) -> None:
        if self._closing:
            return
        try:
            self._sock.sendto(data, addr)
        except (BlockingIOError, InterruptedError):
            self.sends_dropped += 1
        except OSError as exc:
            self._protocol.error_received(exc)

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._loop.remove_reader(self._fd)
        # closed on the next turn of the loop: a close from inside a callback of
        # drain() leaves the descriptor valid (not reused) for the rest of its batch
        self._loop.call_soon(self._sock.close)
        self._loop.call_soon(self._protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()

    def is_closing(self) -> bool:
        return self._closing

    def get_protocol(self) -> Any:
        return self._protocol

    def set_protocol(self, protocol: Any) -> None:
        self._protocol = protocol

    def counters(self) -> dict[str, int]:
        return {**self._tap.counters(), "sends_dropped": self.sends_dropped}


def _read_in_batches(protocol: StunProtocol, tap: Any) -> None:
    """Move `protocol`'s socket from the event loop's transport to a
    BatchedDatagramTransport: the socket is duplicated, the loop's transport
    closed (it stops reading; its close reports to nobody), and the
    duplicate read and written here. Runs on the loop, between two of its
    callbacks: no datagram is read by both."""
    transport = protocol.transport
    sock = transport.get_extra_info("socket")
    if isinstance(transport, BatchedDatagramTransport) or sock is None:
        return
    fd = os.dup(sock.fileno())
    try:
        own = socket.socket(sock.family, sock.type, fileno=fd)
    except OSError:
        os.close(fd)
        raise
    own.setblocking(False)
    extra = {"socket": own, "sockname": own.getsockname(), "peername": None}
    transport.set_protocol(asyncio.DatagramProtocol())
    transport.close()
    protocol.transport = BatchedDatagramTransport(asyncio.get_running_loop(), own, protocol, tap, extra)


def batched(dtls: RTCDtlsTransport) -> list[BatchedDatagramTransport]:
    """`dtls`'s sockets read in batches (tests, counters)."""
    protocols = _ice_protocols(dtls)
    return [p.transport for p in protocols if isinstance(p.transport, BatchedDatagramTransport)]
