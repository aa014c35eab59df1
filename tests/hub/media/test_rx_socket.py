"""The compiled module's socket and SRTP calls (hub/media/_rx.c): `Crypt`
against pylibsrtp itself, and `Tap.drain` with BatchedDatagramTransport on
real UDP sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import struct
from typing import Any

import pylibsrtp
import pytest

from hub.media.fastpath import BatchedDatagramTransport, NativeSrtp, _read_in_batches
from tests.hub.media.peers import wait_for
from tests.hub.media.rxrig import KEY, native_module


def sessions(direction: int) -> tuple[pylibsrtp.Session, Any]:
    """Two sessions with one key: one stock, one compiled."""
    def make() -> pylibsrtp.Session:
        return pylibsrtp.Session(pylibsrtp.Policy(key=KEY, ssrc_type=direction))

    native_module()
    compiled = NativeSrtp.wrap(make())
    assert isinstance(compiled, NativeSrtp)
    return make(), compiled


def rtp(seq: int, size: int) -> bytes:
    return struct.pack("!BBHLL", 0x80, 96, seq, seq * 3000, 0x1234) + os.urandom(size)


def rtcp_rr(n: int) -> bytes:
    return struct.pack("!BBHL", 0x81, 201, 7, 0x4321) + struct.pack("!LLLLLL", 0x1234, n, n, n, 0, 0)


def test_crypt_gives_what_pylibsrtp_gives() -> None:
    stock, compiled = sessions(pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    packets = [rtp(seq, size) for seq, size in enumerate([0, 1, 160, 1000, 1344])]  # 1,356 bytes: the most pylibsrtp protects
    for packet in packets:
        assert compiled.protect(packet) == stock.protect(packet)
    for n in range(5):
        assert compiled.protect_rtcp(rtcp_rr(n)) == stock.protect_rtcp(rtcp_rr(n))
    # what either refuses, both refuse the same way
    for call in ("protect", "protect_rtcp", "unprotect", "unprotect_rtcp"):
        with pytest.raises(ValueError, match="packet is too long"):
            getattr(compiled, call)(b"\x80" * 1501)
        with pytest.raises(TypeError, match="packet must be bytes"):
            getattr(compiled, call)(bytearray(20))

    sender = pylibsrtp.Session(pylibsrtp.Policy(key=KEY, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
    stock_rx, compiled_rx = sessions(pylibsrtp.Policy.SSRC_ANY_INBOUND)
    for seq, packet in enumerate(packets):
        protected = sender.protect(packet)
        assert compiled_rx.unprotect(protected) == stock_rx.unprotect(protected) == packet
        report = sender.protect_rtcp(rtcp_rr(seq))
        assert compiled_rx.unprotect_rtcp(report) == stock_rx.unprotect_rtcp(report) == rtcp_rr(seq)
    # a replay and a forgery: pylibsrtp's own error, with its message
    with pytest.raises(pylibsrtp.Error, match="replay") as stock_error:
        stock_rx.unprotect(protected)
    with pytest.raises(pylibsrtp.Error, match="replay") as compiled_error:
        compiled_rx.unprotect(protected)
    assert str(compiled_error.value) == str(stock_error.value)
    forged = protected[:-1] + bytes([protected[-1] ^ 1])
    with pytest.raises(pylibsrtp.Error, match="authentication"):
        compiled_rx.unprotect(sender.protect(rtp(99, 50))[:-1] + b"\x00")
    assert forged != protected
    # what is not one of the four calls is the session's own
    assert compiled_rx._srtp is compiled_rx.session._srtp


class Recorder(asyncio.DatagramProtocol):
    """A protocol as aioice's StunProtocol is used: datagrams, errors, the end."""

    def __init__(self) -> None:
        self.datagrams: list[tuple[bytes, Any]] = []
        self.errors: list[Exception] = []
        self.lost = asyncio.get_running_loop().create_future()
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if data == b"raise":
            raise RuntimeError("a protocol bug")
        self.datagrams.append((data, addr))

    def error_received(self, exc: Exception) -> None:
        self.errors.append(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)


class FakeSession:
    """A Tap's session that no SRTP datagram reaches in these tests."""


async def batched_socket(host: str = "127.0.0.1") -> tuple[Recorder, Any]:
    rx = native_module()
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    _, protocol = await loop.create_datagram_endpoint(Recorder, local_addr=(host, 0), family=family)
    session = rx.Session(1, 1, object(), lambda plain: None)  # never called: no SRTP is sent
    tap = rx.Tap(session, protocol.datagram_received)
    protocol.datagram_received = tap
    _read_in_batches(protocol, tap)  # type: ignore[arg-type]
    assert isinstance(protocol.transport, BatchedDatagramTransport)
    return protocol, tap


async def test_drain_reads_every_datagram_in_batches_with_its_address() -> None:
    protocol, tap = await batched_socket()
    port = protocol.transport.get_extra_info("sockname")[1]
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.bind(("127.0.0.1", 0))
    source = sender.getsockname()
    try:
        sent = [b"\x00\x01" + i.to_bytes(4, "big") + b"x" * (i * 7 % 1400) for i in range(500)]
        sent[7] = b"\x17" * 3000  # a DTLS-sized record larger than any MTU still arrives whole
        sent[8] = b"\x00" * 5000  # over the 4096-byte buffer: counted, dropped
        for start in range(0, 500, 50):  # bursts the socket's buffer holds
            for data in sent[start:start + 50]:
                sender.sendto(data, ("127.0.0.1", port))
            expected = start + 49  # all but the oversized one
            await wait_for(lambda n=expected: len(protocol.datagrams) == n, what=f"{expected} datagrams")
    finally:
        sender.close()
    assert [d for d, _ in protocol.datagrams] == sent[:8] + sent[9:]  # in order
    assert {addr for _, addr in protocol.datagrams} == {source}
    counters = protocol.transport.counters()
    assert counters["read"] == 499 and counters["too_large"] == 1
    assert counters["batches"] < 499  # more than one datagram per system call
    protocol.transport.close()
    assert await protocol.lost is None
    assert protocol.transport.get_extra_info("socket").fileno() == -1


async def test_drain_ipv6_addresses_are_four_tuples() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        protocol, _ = await batched_socket("::1")
    except OSError as exc:
        pytest.skip(f"::1 cannot be bound here: {exc}")
    port = protocol.transport.get_extra_info("sockname")[1]
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sender:
        sender.bind(("::1", 0))
        sender.sendto(b"\x00\x01hello", ("::1", port))
        await wait_for(lambda: protocol.datagrams, what="the datagram")
        assert protocol.datagrams[0][1] == sender.getsockname()  # (host, port, flowinfo, scope_id)
    protocol.transport.close()


async def test_a_failing_callback_loses_no_later_datagram() -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        protocol, _ = await batched_socket()
        port = protocol.transport.get_extra_info("sockname")[1]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for data in (b"\x00before", b"raise", b"\x00after"):
                sender.sendto(data, ("127.0.0.1", port))
            await wait_for(lambda: len(protocol.datagrams) == 2, what="both good datagrams")
        assert [d for d, _ in protocol.datagrams] == [b"\x00before", b"\x00after"]
        assert len(reported) == 1 and isinstance(reported[0]["exception"], RuntimeError)
        # a read error (here: the descriptor is gone) is raised to the transport,
        # which hands it to error_received as the event loop's transport does
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as dead:
            fd = dead.fileno()
        with pytest.raises(OSError) as bad:
            protocol.transport._tap.drain(fd, print)
        assert bad.value.errno == errno.EBADF
        with pytest.raises(ValueError, match="not a file descriptor"):
            protocol.transport._tap.drain(-1, print)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"\x00still", ("127.0.0.1", port))
            await wait_for(lambda: len(protocol.datagrams) == 3, what="reading after the error")
        gone = ("127.0.0.1", 9)
        protocol.transport.close()
        protocol.transport.close()  # twice: nothing more happens
        protocol.transport.sendto(b"\x00late", gone)  # after close: dropped, no error
        assert await protocol.lost is None
    finally:
        loop.set_exception_handler(None)


async def test_the_loop_transport_is_closed_and_sends_go_out_of_the_same_port() -> None:
    rx = native_module()
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(Recorder, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    tap = rx.Tap(rx.Session(1, 1, object(), lambda plain: None), protocol.datagram_received)
    _read_in_batches(protocol, tap)  # type: ignore[arg-type]
    assert transport.is_closing() and not protocol.lost.done()  # the old close reports to nobody
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        peer.settimeout(10)
        protocol.transport.sendto(b"\x00hi", peer.getsockname())
        data, addr = peer.recvfrom(100)
        assert data == b"\x00hi" and addr == ("127.0.0.1", port)
    protocol.transport.close()
    await protocol.lost


async def test_a_close_inside_a_batch_does_not_read_a_closed_descriptor() -> None:
    """A callback that closes the transport (the connection ends on a datagram)
    in the middle of a full batch: drain finishes on a descriptor that is still
    valid, never one already closed (or, worse, reused by another socket)."""
    protocol, _ = await batched_socket()
    port = protocol.transport.get_extra_info("sockname")[1]
    transport = protocol.transport
    closed_at: list[int] = []

    def closing(data: bytes, addr: Any) -> None:
        if data == b"\x00close" and not closed_at:
            closed_at.append(len(protocol.datagrams))
            transport.close()
        protocol.datagrams.append((data, addr))

    transport._tap = type(transport._tap)(transport._tap.session, closing)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for i in range(40):  # more than one batch of 32, queued before the loop reads
            sender.sendto(b"\x00close" if i == 5 else b"\x00" + bytes([i]), ("127.0.0.1", port))
        await protocol.lost
    assert closed_at == [5]
    assert protocol.errors == [], protocol.errors  # no EBADF from a read after the close
