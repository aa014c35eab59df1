# Types of the compiled receive path (hub/media/_rx.c).
from collections.abc import Callable
from typing import Any

class Track:
    ssrc: int
    payload_type: int
    enabled: bool
    base_seq: int | None
    max_seq: int | None
    cycles: int
    packets_received: int
    packets_expected: int
    packets_lost: int
    fraction_lost: int
    jitter: int
    frames: int
    dropped: int
    guessed: bool
    missing: set[int]
    sink: Callable[[bytes, int], None] | None
    on_loss: Callable[[int], None] | None
    on_nack: Callable[[int, list[int]], None] | None
    group_sink: Callable[[list[tuple[bytes, int]]], None] | None
    group: int
    held: int
    def flush(self) -> None: ...
    def rtp(self, sequence_number: int, timestamp: int, marker: Any, payload: bytes,
            mode: int = ..., /) -> None: ...

class Session:
    def __init__(self, unprotect: int, ctx: int, owner: object,
                 slow: Callable[[bytes], None]) -> None: ...
    def add_track(self, ssrc: int, payload_type: int, h264: bool, nack: bool,
                  clock_rate: int) -> Track: ...
    def remove_track(self, ssrc: int, /) -> bool: ...
    def counters(self) -> dict[str, int]: ...
    def tracks(self) -> list[Track]: ...

class Tap:
    session: Session | None
    def __init__(self, session: Session, stock: Callable[..., Any],
                 rtcp: Callable[[bytes], None] | None = None, /) -> None: ...
    def __call__(self, data: bytes, addr: Any, /) -> None: ...
    def drain(self, fd: int, on_error: Callable[[BaseException], None], /) -> int: ...
    def counters(self) -> dict[str, int]: ...

class Crypt:
    def __init__(self, fn: int, ctx: int, owner: object, trailer: int, error: type[Exception],
                 names: Any) -> None: ...
    def __call__(self, packet: bytes, /) -> bytes: ...
