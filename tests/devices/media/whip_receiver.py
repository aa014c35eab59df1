"""A small WHIP endpoint for tests: raw asyncio HTTP on 127.0.0.1 plus aiortc answerers.

Stands in for hub/media until that exists. Decodes what arrives so tests
can count real frames, sends a tone back on the audio transceiver
(talkback), and can demand a keyframe with an RTCP PLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import uuid
from dataclasses import dataclass, field
from fractions import Fraction

import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack


class ToneTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._n = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:  # type: ignore[override]
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        due = self._start + self._n / 48000
        await asyncio.sleep(max(0.0, due - loop.time()))
        t = np.arange(self._n, self._n + 960) / 48000
        pcm = (np.sin(2 * math.pi * 660 * t) * 8000).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 48000, self._n, Fraction(1, 48000)
        self._n += 960
        return frame


@dataclass
class ReceivedSession:
    pc: RTCPeerConnection
    id: str
    video_frames: int = 0
    video_keyframes: int = 0
    audio_frames: int = 0
    widths: set[int] = field(default_factory=set)
    video_receiver: object = None
    deleted: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def send_pli(self) -> None:
        receiver = self.video_receiver
        stats = await receiver.getStats()  # type: ignore[attr-defined]
        for stat in stats.values():
            if stat.type == "inbound-rtp":
                await receiver._send_rtcp_pli(stat.ssrc)  # type: ignore[attr-defined]


class WhipReceiver:
    def __init__(self, token: str = "device-token", port: int = 0, path: str = "/whip/branch-1") -> None:
        self.token = token
        self.port = port
        self.path = path
        self.sessions: list[ReceivedSession] = []
        self.posts = 0
        self.deletes = 0
        self.refused = 0
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    @property
    def redirect_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/old{self.path}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Go away like a crashed hub: close every peer connection and the port."""
        if self._server is not None:
            self._server.close()
        for task in list(self._conns):
            task.cancel()
        for s in self.sessions:
            for t in s.tasks:
                t.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(s.pc.close(), 5)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    @property
    def video_frames(self) -> int:
        return sum(s.video_frames for s in self.sessions)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                method, target, _ = lines[0].split(" ")
                headers = {k.strip().lower(): v.strip() for k, _, v in
                           (line.partition(":") for line in lines[1:] if line)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                status, extra, out = await self._route(method, target, headers, body)
                reason = {201: "Created", 200: "OK", 307: "Temporary Redirect", 401: "Unauthorized",
                          404: "Not Found", 405: "Method Not Allowed"}.get(status, "X")
                resp = f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(out)}\r\n"
                resp += "".join(f"{k}: {v}\r\n" for k, v in extra.items()) + "\r\n"
                writer.write(resp.encode() + out)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            self._conns.discard(task)

    async def _route(self, method: str, target: str, headers: dict[str, str],
                     body: bytes) -> tuple[int, dict[str, str], bytes]:
        if target == f"/old{self.path}":
            return 307, {"Location": self.path}, b""
        if headers.get("authorization") != f"Bearer {self.token}":
            self.refused += 1
            return 401, {"Content-Type": "text/plain"}, b"bad token"
        if method == "POST" and target == self.path:
            self.posts += 1
            answer, sid = await self._answer(body.decode())
            return 201, {"Content-Type": "application/sdp", "Location": f"{self.path}/{sid}"}, answer.encode()
        if method == "DELETE" and target.startswith(self.path + "/"):
            sid = target.rsplit("/", 1)[1]
            for s in self.sessions:
                if s.id == sid:
                    s.deleted = True
                    self.deletes += 1
                    await s.pc.close()
                    return 200, {}, b""
            return 404, {}, b""
        return 405, {}, b""

    async def _answer(self, offer: str) -> tuple[str, str]:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        session = ReceivedSession(pc=pc, id=uuid.uuid4().hex[:8])
        self.sessions.append(session)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            session.tasks.append(asyncio.create_task(self._consume(session, track)))

        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        for tr in pc.getTransceivers():
            if tr.kind == "audio":
                pc.addTrack(ToneTrack())
            if tr.kind == "video":
                session.video_receiver = tr.receiver
        await pc.setLocalDescription(await pc.createAnswer())
        return pc.localDescription.sdp, session.id

    async def _consume(self, session: ReceivedSession, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if track.kind == "video":
                session.video_frames += 1
                session.widths.add(frame.width)  # type: ignore[union-attr]
                if getattr(frame, "key_frame", False):
                    session.video_keyframes += 1
            else:
                session.audio_frames += 1


async def wait_for(predicate, timeout: float = 30.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    """Poll until predicate() is true; fail with `what` after `timeout` (a ceiling, not a measurement)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)
