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

In front of it, `PacketHold` gives the packets in sequence order, holding
those behind a missing one for up to HOLD_FRAMES frames: the time the NACK's
retransmission takes over a village uplink (a round trip of 100 ms and more
is longer than the 67 ms between two frames at 15 fps). Without it every
lost packet cost its frame and the frames up to the next keyframe.
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


HOLD_FRAMES = 8  # frames held behind a missing packet while its retransmission comes
HOLD_PACKETS = 256  # sequence numbers a hold spans at most (the C ring's size)

Packet = tuple[int, int, bool, bytes]  # sequence number, timestamp, marker, payload


class PacketHold:
    """A video track's packets in sequence order (pure; hub/media/_rx.c does
    the same in C). A packet behind a gap is held until the gap is filled (a
    retransmission) or HOLD_FRAMES frames have ended behind it, then the gap
    is given up. A packet older than the one awaited (a duplicate, a
    retransmission too late) goes through at once: the assembler ignores it."""

    __slots__ = ("_next", "_held", "_ends")

    def __init__(self) -> None:
        self._next: int | None = None  # the sequence number awaited
        self._held: dict[int, Packet] = {}
        self._ends = 0  # held packets with the marker bit: frames ended behind the gap

    def push(self, seq: int, ts: int, marker: bool, data: bytes) -> list[Packet]:
        """The packets that can go on now, in order."""
        nxt = seq if self._next is None else self._next
        distance = (seq - nxt) & 0xFFFF
        if distance >= 0x8000:
            return [(seq, ts, marker, data)]
        out: list[Packet] = []
        held = self._held
        if distance >= HOLD_PACKETS:  # too far ahead to hold: what is held goes, in order
            out.extend(held[s] for s in sorted(held, key=lambda s: (s - nxt) & 0xFFFF))
            held.clear()
            self._ends = 0
            nxt = seq
        if seq in held:
            return out  # a duplicate of a held packet
        held[seq] = (seq, ts, marker, data)
        self._ends += marker
        while True:
            while nxt in held:
                packet = held.pop(nxt)
                self._ends -= packet[2]
                out.append(packet)
                nxt = (nxt + 1) & 0xFFFF
            if not held or self._ends < HOLD_FRAMES:
                break
            nxt = min(held, key=lambda s: (s - nxt) & 0xFFFF)  # the gap is given up
        self._next = nxt
        return out
