"""A tiny RTSP 1.0 server (RFC 2326) serving one live H.264 stream (track1) and optionally
the camera's audio (track2) over TCP interleaved RTP.

Enough for PyAV/FFmpeg, VLC and our edge agent: OPTIONS, DESCRIBE, SETUP
(RTP/AVP/TCP only; UDP is answered 461 and FFmpeg retries over TCP),
PLAY, GET_PARAMETER (keep-alive), TEARDOWN. Any number of clients; each has
a bounded queue that drops the oldest access units when it lags, and starts
at a keyframe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from .rtp_audio import AudioUnit
from .rtp_h264 import packetize_nal, rtp_header, split_annexb

log = logging.getLogger(__name__)
PAYLOAD_TYPE = 96
MAX_REQUEST = 16384


@dataclass
class RtspRequest:
    method: str
    uri: str
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def cseq(self) -> str:
        return self.headers.get("cseq", "0")


def parse_request(head: bytes) -> RtspRequest:
    """Parse the request line and headers (the part before the blank line)."""
    lines = head.decode("utf-8", "replace").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("RTSP/"):
        raise ValueError(f"RTSP request line is invalid: {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        if not line:
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"RTSP header line is invalid: {line!r}")
        headers[key.strip().lower()] = value.strip()
    return RtspRequest(parts[0].upper(), parts[1], headers)


def format_response(status: int, reason: str, cseq: str, headers: dict[str, str] | None = None,
                    body: bytes = b"") -> bytes:
    lines = [f"RTSP/1.0 {status} {reason}", f"CSeq: {cseq}", "Server: branchlive-camera-emulator"]
    for key, value in (headers or {}).items():
        lines.append(f"{key}: {value}")
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def interleaved(channel: int, packet: bytes) -> bytes:
    return struct.pack("!cBH", b"$", channel, len(packet)) + packet


@dataclass
class AccessUnit:
    data: bytes  # Annex-B
    timestamp: int  # 90 kHz
    keyframe: bool


class _Client:
    def __init__(self, writer: asyncio.StreamWriter, channels: dict[str, int]) -> None:
        self.writer = writer
        self.channels = channels  # "track1" (video) / "track2" (audio) -> interleaved channel
        self.queue: asyncio.Queue[AccessUnit | tuple[AudioUnit, int]] = asyncio.Queue(maxsize=90)
        self.seq = random.randint(0, 0xFFFF)
        self.ssrc = random.getrandbits(32)
        self.audio_seq = random.randint(0, 0xFFFF)
        self.audio_ssrc = random.getrandbits(32)
        self.started = False

    def _put(self, item: AccessUnit | tuple[AudioUnit, int]) -> None:
        if self.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
        self.queue.put_nowait(item)

    def offer(self, unit: AccessUnit) -> None:
        if "track1" not in self.channels:
            return
        if not self.started:
            if not unit.keyframe:
                return
            self.started = True
        self._put(unit)

    def offer_audio(self, unit: AudioUnit, payload_type: int) -> None:
        if "track2" in self.channels:
            self._put((unit, payload_type))

    async def pump(self) -> None:
        while True:
            item = await self.queue.get()
            out = bytearray()
            if isinstance(item, tuple):
                unit, payload_type = item
                header = rtp_header(payload_type=payload_type, sequence=self.audio_seq & 0xFFFF,
                                    timestamp=unit.timestamp & 0xFFFFFFFF, ssrc=self.audio_ssrc, marker=True)
                self.audio_seq += 1
                out += interleaved(self.channels["track2"], header + unit.payload)
            else:
                nals = split_annexb(item.data)
                payloads = [p for nal in nals for p in packetize_nal(nal)]
                for i, payload in enumerate(payloads):
                    header = rtp_header(payload_type=PAYLOAD_TYPE, sequence=self.seq & 0xFFFF,
                                        timestamp=item.timestamp & 0xFFFFFFFF, ssrc=self.ssrc,
                                        marker=i == len(payloads) - 1)
                    self.seq += 1
                    out += interleaved(self.channels["track1"], header + payload)
            self.writer.write(bytes(out))
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow the cancellation
            # that stop() sends when a drain completes at the same moment, and the pump
            # then waits on its queue forever (the camera never exits)
            async with asyncio.timeout(5.0):
                await self.writer.drain()


class RtspServer:
    def __init__(self, sdp_factory: Callable[[str], str], on_client: Callable[[], None] | None = None,
                 path: str = "/stream") -> None:
        self._sdp_factory = sdp_factory
        self._on_client = on_client
        self.path = path
        self._server: asyncio.Server | None = None
        self._clients: set[_Client] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._handle, host, port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5.0)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def broadcast(self, unit: AccessUnit) -> None:
        for client in list(self._clients):
            client.offer(unit)

    def broadcast_audio(self, unit: AudioUnit, payload_type: int) -> None:
        for client in list(self._clients):
            client.offer_audio(unit, payload_type)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        client: _Client | None = None
        pump: asyncio.Task[None] | None = None
        channels: dict[str, int] = {}
        session = f"{random.getrandbits(32):08x}"
        try:
            while True:
                first = await reader.readexactly(1)
                if first == b"$":  # RTCP from the client: read and ignore
                    _, length = struct.unpack("!BH", await reader.readexactly(3))
                    await reader.readexactly(length)
                    continue
                head = first + await reader.readuntil(b"\r\n\r\n")
                if len(head) > MAX_REQUEST:
                    return
                try:
                    request = parse_request(head[:-4])
                except ValueError:
                    writer.write(format_response(400, "Bad Request", "0"))
                    return
                length = int(request.headers.get("content-length", "0") or 0)
                if length:
                    await reader.readexactly(length)
                response, action = self._respond(request, session)
                if action.startswith("setup:"):
                    _, track, channel = action.split(":")
                    channels[track] = int(channel)
                writer.write(response)
                await writer.drain()
                if action == "play" and client is None:
                    client = _Client(writer, channels or {"track1": 0})
                    self._clients.add(client)
                    pump = asyncio.create_task(client.pump())
                    if self._on_client is not None:
                        self._on_client()
                elif action == "teardown":
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, TimeoutError):
            pass
        finally:
            if client is not None:
                self._clients.discard(client)
            if pump is not None:
                pump.cancel()
                await asyncio.wait({pump}, timeout=2.0)
            writer.close()
            self._tasks.discard(task)

    def _respond(self, request: RtspRequest, session: str) -> tuple[bytes, str]:
        cseq = request.cseq
        method = request.method
        if method == "OPTIONS":
            return format_response(200, "OK", cseq, {
                "Public": "OPTIONS, DESCRIBE, SETUP, PLAY, GET_PARAMETER, TEARDOWN"}), ""
        if method == "DESCRIBE":
            base = request.uri.rstrip("/")
            if not base.endswith(self.path):
                return format_response(404, "Not Found", cseq), ""
            body = self._sdp_factory(base).encode()
            return format_response(200, "OK", cseq, {"Content-Type": "application/sdp",
                                                     "Content-Base": base + "/"}, body), ""
        if method == "SETUP":
            transport = request.headers.get("transport", "")
            if "RTP/AVP/TCP" not in transport.upper():
                return format_response(461, "Unsupported Transport", cseq), ""
            track = "track2" if request.uri.rstrip("/").endswith("track2") else "track1"
            channel = 0 if track == "track1" else 2
            for part in transport.split(";"):
                if part.strip().startswith("interleaved="):
                    channel = int(part.split("=")[1].split("-")[0])
            return format_response(200, "OK", cseq, {
                "Transport": f"RTP/AVP/TCP;unicast;interleaved={channel}-{channel + 1}",
                "Session": f"{session};timeout=60"}), f"setup:{track}:{channel}"
        if method == "PLAY":
            return format_response(200, "OK", cseq, {"Session": session, "Range": "npt=0.000-"}), "play"
        if method == "GET_PARAMETER":
            return format_response(200, "OK", cseq, {"Session": session}), ""
        if method == "TEARDOWN":
            return format_response(200, "OK", cseq, {"Session": session}), "teardown"
        return format_response(405, "Method Not Allowed", cseq), ""
