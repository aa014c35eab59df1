"""Module-side framing for the emulated fingerprint module.

Written independently of `devices.fingerprint.codec` on purpose: the emulator
stands in for the datasheet, so a framing bug shared with the driver would
hide itself. The module reassembles host frames from any byte split, skips
bytes before `EF 01`, keeps a partial header, and flags bad checksums.
"""

from __future__ import annotations

from dataclasses import dataclass

START = (0xEF, 0x01)
PID_COMMAND = 0x01
PID_DATA = 0x02
PID_ACK = 0x07
PID_END = 0x08
KNOWN_PIDS = (PID_COMMAND, PID_DATA, PID_ACK, PID_END)
LONGEST_LEN = 258


@dataclass(frozen=True)
class HostFrame:
    address: int
    pid: int
    body: bytes
    checksum_ok: bool


def frame(address: int, pid: int, body: bytes) -> bytes:
    """Encode one frame as the module sends it."""
    n = len(body) + 2
    total = pid + (n >> 8) + (n & 0xFF)
    for b in body:
        total += b
    out = bytearray((0xEF, 0x01))
    out += address.to_bytes(4, "big")
    out.append(pid)
    out += bytes(((n >> 8) & 0xFF, n & 0xFF))
    out += body
    out += bytes(((total >> 8) & 0xFF, total & 0xFF))
    return bytes(out)


def ack(address: int, code: int, value: bytes = b"") -> bytes:
    return frame(address, PID_ACK, bytes((code,)) + value)


class HostStream:
    """Byte-at-a-time state machine over what the host writes."""

    def __init__(self) -> None:
        self._pending = bytearray()

    def push(self, data: bytes) -> list[HostFrame]:
        self._pending += data
        frames: list[HostFrame] = []
        p = self._pending
        while True:
            # Drop everything that cannot start a header.
            i = 0
            while i < len(p) and not (p[i] == 0xEF and (i + 1 == len(p) or p[i + 1] == 0x01)):
                i += 1
            del p[:i]
            if len(p) < 9:
                break
            n = (p[7] << 8) | p[8]
            if p[6] not in KNOWN_PIDS or n < 2 or n > LONGEST_LEN:
                del p[:1]
                continue
            if len(p) < 9 + n:
                break
            body = bytes(p[9 : 7 + n])
            want = (p[6] + p[7] + p[8] + sum(body)) & 0xFFFF
            got = (p[7 + n] << 8) | p[8 + n]
            frames.append(HostFrame(int.from_bytes(p[2:6], "big"), p[6], body, want == got))
            del p[: 9 + n]
        return frames

    def clear(self) -> None:
        self._pending.clear()
