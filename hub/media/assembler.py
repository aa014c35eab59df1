"""Reassembly of encoded video frames from depayloaded RTP packets (pure).

Replaces aiortc's 512-slot jitter buffer on the hub's receive path, which
rescans its ring on every packet. Packets of the frame being built are kept
by sequence number; the frame is complete when its marker packet has
arrived and every sequence number from the frame's first packet to the
marker is present (arrival order does not matter). The first packet is the
one after the previous frame's marker; after a loss it is not known, and
the lowest sequence number seen for the frame is taken.

A packet with a newer timestamp while a frame is incomplete means that
frame lost a packet for good: it is dropped and `add` reports the loss so
the caller can ask for a keyframe (PLI). Packets of older frames are late
(e.g. a retransmission that lost the race) and ignored.
"""

from __future__ import annotations


def _newer(a: int, b: int) -> bool:
    """RTP timestamp a is after b (modulo 2**32)."""
    return a != b and (a - b) & 0xFFFFFFFF < 0x80000000


class FrameAssembler:
    __slots__ = ("_ts", "_done_ts", "_parts", "_start", "_marker", "frames", "dropped", "guessed")

    def __init__(self) -> None:
        self._ts: int | None = None  # timestamp of the frame being built
        self._done_ts: int | None = None  # timestamp of the last frame emitted
        self._parts: dict[int, bytes] = {}
        self._start: int | None = None  # first sequence number of the next frame
        self._marker: int | None = None
        self.frames = 0
        self.dropped = 0
        self.guessed = False  # the last frame's first packet was not known, only the lowest seen

    def add(self, seq: int, ts: int, marker: bool, data: bytes) -> tuple[bytes | None, bool]:
        """Returns (complete frame or None, True if a frame was lost)."""
        lost = False
        cur = self._ts
        if cur is None or ts != cur:
            done = self._done_ts
            if done is not None and not _newer(ts, done):
                return None, False  # straggler of a frame already emitted
            if cur is not None:
                if not _newer(ts, cur):
                    return None, False  # late packet of a dropped frame
                lost = True  # the frame being built can no longer complete
                self.dropped += 1
                self._parts = {}
                self._marker = None
                self._start = None
            self._ts = ts
        parts = self._parts
        parts[seq] = data
        if marker:
            self._marker = seq
        end = self._marker
        if end is None:
            return None, lost
        start = self._start
        guessed = False
        if start is None or (end - start) & 0xFFFF >= 0x8000:
            start = max(parts, key=lambda s: (end - s) & 0xFFFF)
            guessed = True
        span = ((end - start) & 0xFFFF) + 1
        if len(parts) < span:
            return None, lost
        if span == 1:
            frame = parts[start]
        else:
            try:
                frame = b"".join([parts[(start + i) & 0xFFFF] for i in range(span)])
            except KeyError:  # a stray packet outside the frame's range
                return None, lost
        self._parts = {}
        self._marker = None
        self._start = (end + 1) & 0xFFFF
        self._done_ts = ts
        self._ts = None
        self.frames += 1
        self.guessed = guessed
        return frame, lost
