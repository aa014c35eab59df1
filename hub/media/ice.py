"""ICE configuration of every hub peer connection.

Two things aiortc gets wrong for a closed county network, both fixed here:
- it adds a public STUN server when no configuration is given, so the hub
  always passes an explicit RTCConfiguration (no servers unless configured);
- aioice gathers host candidates from every interface *except* 127.0.0.1
  (`aioice.ice.get_host_addresses` hard-codes the exclusion) and has no
  option to choose them. Rather than monkey-patching that module function
  (which would change every connection in the process, including clients
  in tests), `offer_host_addresses` replaces `gather_candidates` on the one
  aioice Connection instance of each of our peer connections, with the
  same steps aioice performs but over the configured address list. The hub
  then offers exactly the addresses halls can reach, loopback included.
"""

from __future__ import annotations

import socket
import types
from collections.abc import Sequence

from aioice import Connection
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection


def rtc_configuration(ice_urls: Sequence[str]) -> RTCConfiguration:
    return RTCConfiguration(iceServers=[RTCIceServer(urls=url) for url in ice_urls])


def _ice_connections(pc: RTCPeerConnection) -> list[Connection]:
    found: dict[int, Connection] = {}
    transports = [t.receiver.transport for t in pc.getTransceivers()]
    if pc.sctp is not None:
        transports.append(pc.sctp.transport)
    for dtls in transports:
        if dtls is None:
            continue
        conn = dtls.transport.iceGatherer._connection
        found[id(conn)] = conn
    return list(found.values())


def offer_host_addresses(
    pc: RTCPeerConnection, addresses: Sequence[str], receive_buffer: int = 0
) -> None:
    """Make `pc` offer exactly `addresses` as host candidates. Call after the
    transceivers exist and before setLocalDescription (which gathers).

    `receive_buffer` (bytes) enlarges each socket's SO_RCVBUF: the default
    (~200 KB, a few dozen loopback datagrams at kernel truesize) overflows
    when the event loop is held up for half a second, and every overflow is
    a lost RTP packet. The kernel caps it at net.core.rmem_max."""
    wanted = list(addresses)

    async def gather_candidates(self: Connection) -> None:
        if self._local_candidates_start:
            return
        self._local_candidates_start = True
        for component in self._components:
            self._local_candidates += await self.get_component_candidates(
                component=component, addresses=wanted
            )
        if receive_buffer:
            for protocol in self._protocols:
                sock = protocol.transport.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self._local_candidates_end = True

    for conn in _ice_connections(pc):
        conn.gather_candidates = types.MethodType(gather_candidates, conn)  # type: ignore[method-assign]
        _guard_consent(conn)



def _guard_consent(conn: Connection) -> None:
    """aioice race: when ICE completes just as the connection is closed,
    `connect()` resumes after `close()` and starts consent freshness checks
    on the closed connection (a task that then runs for ~30 s). Stop them."""
    connect = conn.connect

    async def guarded_connect() -> None:
        await connect()
        task = conn._query_consent_task
        if conn._closing and task is not None and not task.done():
            task.cancel()

    conn.connect = guarded_connect  # type: ignore[method-assign]


async def close_peer(pc: RTCPeerConnection) -> None:
    await pc.close()
