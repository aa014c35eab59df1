"""Encoded-frame tracks sent by the hub: a viewer's copy of a branch's live
stream, and the operator's talkback audio going to the hall.

Each viewer track owns a bounded queue. A viewer whose connection cannot
keep up overflows only its own queue: the queue is emptied, video waits for
the next keyframe (asking the publisher for one), and no other viewer and
no publisher ever waits for it.
"""

from __future__ import annotations

import asyncio
import fractions
from collections import deque
from collections.abc import Callable

import av
from aiortc import RTCRtpSender
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

VIDEO_CLOCK = 90_000
AUDIO_CLOCK = 48_000
_TIME_BASES = {
    "video": fractions.Fraction(1, VIDEO_CLOCK),
    "audio": fractions.Fraction(1, AUDIO_CLOCK),
}


class RelayTrack(MediaStreamTrack):
    """Packets offered with `offer()` come out of `recv()` as av.Packet, which
    aiortc's RTCRtpSender packetises without encoding."""

    def __init__(
        self, kind: str, maxsize: int, on_overflow: Callable[[], None] | None = None
    ) -> None:
        super().__init__()
        self.kind = kind
        self._queue: deque[tuple[bytes, int]] = deque()
        self._maxsize = maxsize
        self._waiter: asyncio.Future[None] | None = None
        self._on_overflow = on_overflow
        self._need_keyframe = kind == "video"
        self._time_base = _TIME_BASES[kind]
        self._base: int | None = None
        self.dropped = 0
        self.sent = 0

    def offer(self, data: bytes, timestamp: int, keyframe: bool) -> None:
        """Queue a frame (`timestamp` in the track's RTP clock, unwrapped)."""
        if self.readyState != "live":
            return
        if self._need_keyframe:
            if not keyframe:
                self.dropped += 1
                return
            self._need_keyframe = False
        if len(self._queue) >= self._maxsize:
            self.dropped += len(self._queue) + 1
            self._queue.clear()
            if self.kind == "video":
                self._need_keyframe = True
                if self._on_overflow is not None:
                    self._on_overflow()
            return
        self._queue.append((data, timestamp))
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def restart(self) -> None:
        """The source changed (new publisher): wait for its first keyframe."""
        self._queue.clear()
        self._need_keyframe = self.kind == "video"

    async def recv(self) -> av.Packet:
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
            self._waiter = None
        data, timestamp = self._queue.popleft()
        if self._base is None:
            self._base = timestamp
        packet = av.Packet(data)
        packet.pts = max(0, timestamp - self._base)
        packet.time_base = self._time_base
        self.sent += 1
        return packet

    def stop(self) -> None:
        super().stop()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class TalkbackTrack(RelayTrack):
    """The hall-bound audio of one publisher connection. Several operators may
    watch a branch; the floor belongs to one talker at a time and timestamps
    stay monotonic when the talker changes."""

    def __init__(self, maxsize: int = 50) -> None:
        super().__init__("audio", maxsize)
        self.talker: object | None = None
        self.spoken = asyncio.Event()  # set at the first frame: see quiet_until_spoken
        self._talker_base = 0
        self._out_offset = 0
        self._last_out = -960

    def offer_from(self, talker: object, data: bytes, timestamp: int) -> None:
        if not self.spoken.is_set():
            self.spoken.set()
        if talker is not self.talker:
            self.talker = talker
            self._talker_base = timestamp
            self._out_offset = self._last_out + 960
        out = self._out_offset + (timestamp - self._talker_base)
        self._last_out = out
        self.offer(data, out, True)


def quiet_until_spoken(sender: RTCRtpSender, track: TalkbackTrack) -> None:
    """Keep `sender` (a hall's talkback) from sending RTCP until an operator
    first speaks. aiortc's sender reports every second from the start, a
    sender report of nothing sent and an SDES; most meetings nobody talks
    back, and at 256 halls those reports were ~2.5 % of the loop (py-spy).
    From the first frame on it reports as aiortc does; a sender that never
    sent owes no BYE. aiortc's `stop()` waits for the RTCP task to have
    started, cancels it and waits for it to end: all three still hold."""
    stock = sender._run_rtcp
    started = sender._RTCRtpSender__rtcp_started  # type: ignore[attr-defined]
    exited = sender._RTCRtpSender__rtcp_exited  # type: ignore[attr-defined]

    async def run_rtcp() -> None:
        started.set()
        try:
            await track.spoken.wait()
        except asyncio.CancelledError:
            exited.set()
            return
        await stock()

    sender._run_rtcp = run_rtcp  # type: ignore[method-assign]
