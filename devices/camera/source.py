"""The async face of a capture backend: a thread reads, the event loop fans out.

State machine (visible in `health`):

    STOPPED --start--> OPENING --first item--> LIVE <--> BLACK
                          ^                      |
                          |                      v  no item for stall_after_s
                          +---- LOST <------- STALLED
                       (backoff)   ^ open failed / stream ended / read error

The capture thread owns the backend. It hands items over through a bounded
deque (the oldest item is dropped when the loop lags) and wakes the loop
with call_soon_threadsafe. Each consumer subscribes with its own bounded
queue, so the encoder and the thumbnailer never steal frames from each
other and a slow consumer only loses its own frames.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any, Generic, Protocol, TypeVar

import cv2
import numpy as np

from .backends import CaptureBackend
from .backoff import Backoff
from .errors import CaptureError
from .frames import CapturedFrame

log = logging.getLogger(__name__)
T = TypeVar("T")


class SourceState(enum.StrEnum):
    STOPPED = "stopped"
    OPENING = "opening"
    LIVE = "live"
    BLACK = "black"
    STALLED = "stalled"
    LOST = "lost"


@dataclass(frozen=True, slots=True)
class SourceHealth:
    state: SourceState
    since: float  # time.monotonic() of the last state change
    description: str
    items: int = 0
    dropped: int = 0
    reopens: int = 0
    last_error: str = ""
    luma: float | None = None


@dataclass
class SourceSettings:
    handoff_size: int = 2
    stall_after_s: float = 5.0
    black_luma: float = 12.0
    black_after_s: float = 3.0
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0


def mean_luma(image: np.ndarray) -> float:
    """Mean luma of a BGR image, on a decimated copy (cheap enough per frame)."""
    small = image[::8, ::8]
    return float(cv2.cvtColor(np.ascontiguousarray(small), cv2.COLOR_BGR2GRAY).mean())


class _Publisher(Protocol):
    def _unsubscribe(self, sub: Any) -> None: ...


class Subscription(Generic[T]):
    """One consumer's bounded queue; the oldest item goes when it is full
    (counted in `dropped`). Shared by capture sources and the encoded feed."""

    def __init__(self, owner: _Publisher, maxsize: int) -> None:
        self._owner = owner
        self._items: collections.deque[T] = collections.deque(maxlen=maxsize)
        self._event = asyncio.Event()
        self.dropped = 0
        self.closed = False

    def _push(self, item: T) -> None:
        if len(self._items) == self._items.maxlen:
            self.dropped += 1
        self._items.append(item)
        self._event.set()

    async def get(self, timeout: float | None = None) -> T:
        """Next item; TimeoutError if none arrived within `timeout` seconds."""
        while not self._items:
            if self.closed:
                raise EOFError("subscription closed")
            self._event.clear()
            await asyncio.wait_for(self._event.wait(), timeout)
        return self._items.popleft()

    def close(self) -> None:
        self.closed = True
        self._event.set()
        self._owner._unsubscribe(self)

    def __aiter__(self) -> AsyncIterator[T]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[T]:
        while True:
            try:
                yield await self.get()
            except EOFError:
                return


class CaptureSource(Generic[T]):
    """Runs `backend_factory()`'s backend in a thread and keeps it alive.

    A new backend is built for every (re)open, so a backend never has to
    recover from its own failures.
    """

    def __init__(
        self,
        backend_factory: Callable[[], CaptureBackend[T]],
        settings: SourceSettings | None = None,
        *,
        on_state: Callable[[SourceHealth], None] | None = None,
    ) -> None:
        self._factory = backend_factory
        self.settings = settings or SourceSettings()
        self._on_state = on_state
        self._handoff: collections.deque[T] = collections.deque(maxlen=self.settings.handoff_size)
        self._handoff_lock = threading.Lock()
        self._wake_pending = False
        self._subs: list[Subscription[T]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._reopen = threading.Event()
        self._watchdog: asyncio.Task[None] | None = None
        self._last_item_mono = 0.0
        self._black_since: float | None = None
        self.latest: T | None = None
        self._health = SourceHealth(SourceState.STOPPED, time.monotonic(), "")
        self._health_lock = threading.Lock()

    # ---- public API -------------------------------------------------------
    @property
    def health(self) -> SourceHealth:
        return self._health

    @property
    def state(self) -> SourceState:
        return self._health.state

    async def start(self) -> None:
        if self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)
        self._thread.start()
        self._watchdog = asyncio.create_task(self._watch(), name="capture-watchdog")

    async def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None
        if self._thread is not None:
            thread = self._thread
            await asyncio.wait_for(asyncio.to_thread(thread.join, timeout), timeout + 1.0)
            self._thread = None
        for sub in list(self._subs):
            sub.close()
        self._set_state(SourceState.STOPPED)

    def subscribe(self, maxsize: int = 2) -> Subscription[T]:
        sub: Subscription[T] = Subscription(self, maxsize)
        self._subs.append(sub)
        return sub

    def reopen(self) -> None:
        """Ask the capture thread to close and reopen the backend."""
        self._reopen.set()

    # ---- capture thread ---------------------------------------------------
    def _run(self) -> None:
        backoff = Backoff(self.settings.backoff_base_s, self.settings.backoff_cap_s)
        while not self._stop.is_set():
            self._reopen.clear()
            backend = self._factory()
            self._set_state(SourceState.OPENING, description=backend.description)
            got_item = False
            try:
                backend.open()
                while not self._stop.is_set() and not self._reopen.is_set():
                    item = backend.read()
                    if item is None:
                        self._set_state(SourceState.LOST, last_error="stream ended or device gone")
                        break
                    if not got_item:
                        got_item = True
                        backoff.reset()
                    self._handle_item(item)
            except CaptureError as exc:
                self._set_state(SourceState.LOST, last_error=str(exc))
            except Exception as exc:  # a backend bug must not kill capture for good
                log.exception("capture backend %s crashed", backend.description)
                self._set_state(SourceState.LOST, last_error=f"{type(exc).__name__}: {exc}")
            finally:
                with contextlib.suppress(Exception):
                    backend.close()
            if self._stop.is_set():
                break
            with self._health_lock:
                self._health = replace(self._health, reopens=self._health.reopens + 1)
            if self._reopen.is_set() and got_item:
                continue  # asked to reopen a working source: no need to wait
            self._stop.wait(backoff.next_delay())

    def _handle_item(self, item: T) -> None:
        now = time.monotonic()
        luma = mean_luma(item.image) if isinstance(item, CapturedFrame) else None
        self._last_item_mono = now
        state = SourceState.LIVE
        if luma is not None and luma < self.settings.black_luma:
            if self._black_since is None:
                self._black_since = now
            if now - self._black_since >= self.settings.black_after_s:
                state = SourceState.BLACK
        else:
            self._black_since = None
        with self._health_lock:
            self._health = replace(self._health, items=self._health.items + 1, luma=luma)
        if self._health.state != state:
            self._set_state(state)
        with self._handoff_lock:
            if len(self._handoff) == self._handoff.maxlen:
                with self._health_lock:
                    self._health = replace(self._health, dropped=self._health.dropped + 1)
            self._handoff.append(item)
            if self._wake_pending:
                return
            self._wake_pending = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._drain)

    def _set_state(self, state: SourceState, *, description: str | None = None,
                   last_error: str | None = None) -> None:
        with self._health_lock:
            old = self._health
            changes: dict[str, object] = {}
            if description is not None:
                changes["description"] = description
            if last_error is not None:
                changes["last_error"] = last_error
            if state != old.state:
                changes["state"] = state
                changes["since"] = time.monotonic()
            if not changes:
                return
            self._health = replace(old, **changes)  # type: ignore[arg-type]
            new = self._health
        if state != old.state:
            log.info("source %s: %s -> %s %s", new.description, old.state, state, new.last_error)
            if self._on_state is not None and self._loop is not None and not self._loop.is_closed():
                with contextlib.suppress(RuntimeError):
                    self._loop.call_soon_threadsafe(self._on_state, new)

    # ---- event loop side --------------------------------------------------
    def _drain(self) -> None:
        with self._handoff_lock:
            items = list(self._handoff)
            self._handoff.clear()
            self._wake_pending = False
        for item in items:
            self.latest = item
            for sub in self._subs:
                sub._push(item)

    def _unsubscribe(self, sub: Subscription[T]) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    async def _watch(self) -> None:
        """Declare a source STALLED when items stop, and have the thread reopen it."""
        period = max(0.2, self.settings.stall_after_s / 4)
        while True:
            await asyncio.sleep(period)
            if self.state not in (SourceState.LIVE, SourceState.BLACK):
                continue
            if time.monotonic() - self._last_item_mono >= self.settings.stall_after_s:
                self._set_state(SourceState.STALLED,
                                last_error=f"no picture for {self.settings.stall_after_s:g} s")
                self.reopen()


