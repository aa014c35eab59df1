"""Check-in reader: a state machine turning the driver into kiosk events.

The kiosk starts a `CheckInReader` and consumes `events()`:

    ReaderReady -> (FingerMatched | NotRecognised | PoorImage | ReadFailed)* ...
    ReaderFault(message) -> ... -> ReaderReconnected -> ...

Between two reads it waits for the finger to be lifted, so one press gives
one event. `paused()` stops scanning while the kiosk enrols a member with
the same driver.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from .connection import ConnectionState
from .driver import FingerprintDriver
from .errors import FingerprintError, NotRecognisedError, PoorImageError, ReaderBusy, ScanAborted

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReaderReady:
    capacity: int
    prompt: str = "请把手指平放在指纹仪上签到 / Place your finger on the reader to check in"


@dataclass(frozen=True)
class FingerMatched:
    slot: int
    score: int
    at: float = 0.0  # wall clock when the Search reply arrived (latency measurements)


@dataclass(frozen=True)
class ReadFailed:
    """A finger was on the glass but the exchange with the module failed
    (corrupted or missing reply); the link has resynchronised."""

    message: str
    prompt: str = "读取失败，请再按一次 / Could not read the finger; press again"


@dataclass(frozen=True)
class NotRecognised:
    prompt: str = (
        "没有认出这个手指，请换一个录入过的手指，或请工作人员帮助 / "
        "Finger not recognised; try another enrolled finger or ask staff for help"
    )


@dataclass(frozen=True)
class PoorImage:
    reason: str  # messy | few_features | capture_failed | no_image
    prompt: str = ""


@dataclass(frozen=True)
class ReaderFault:
    message: str
    prompt: str = "指纹仪暂时不能用，请工作人员帮助签到 / The reader is not working; staff will check you in"


@dataclass(frozen=True)
class ReaderReconnected:
    prompt: str = "指纹仪已恢复，请按手指签到 / The reader is back; place your finger to check in"


ReaderEvent = (
    ReaderReady | FingerMatched | NotRecognised | PoorImage | ReadFailed | ReaderFault | ReaderReconnected
)


class ReaderPhase(enum.Enum):
    STARTING = "starting"
    SCANNING = "scanning"
    WAITING_FOR_LIFT = "waiting_for_lift"
    PAUSED = "paused"
    FAULT = "fault"
    STOPPED = "stopped"


class CheckInReader:
    def __init__(self, driver: FingerprintDriver, *, ready_timeout: float | None = 10.0) -> None:
        self.driver = driver
        self.phase = ReaderPhase.STOPPED
        self._ready_timeout = ready_timeout
        self._events: asyncio.Queue[ReaderEvent] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._running = asyncio.Event()
        self._running.set()
        self._idle = asyncio.Event()  # set while paused and not touching the driver
        self._pause_requested = asyncio.Event()
        self._pause_lock = asyncio.Lock()
        self._finger_seen = False  # GenImg took an image during the current scan
        self.pause_timeout = 15.0

    def start(self) -> None:
        if self._task is None:
            self.phase = ReaderPhase.STARTING
            self._task = asyncio.get_running_loop().create_task(self._run(), name="fingerprint-checkin")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.phase = ReaderPhase.STOPPED

    async def events(self) -> AsyncIterator[ReaderEvent]:
        while True:
            yield await self._events.get()

    async def next_event(self, timeout: float | None = None) -> ReaderEvent:
        return await asyncio.wait_for(self._events.get(), timeout)

    @contextlib.asynccontextmanager
    async def paused(self, timeout: float | None = None) -> AsyncIterator[None]:
        """Stop scanning (e.g. to enrol with the same driver); resume on exit.

        Pauses are serialised: a second caller (a restore while an enrolment
        runs) waits for the first, instead of waiting for an idle signal the
        already-parked scanner would never send again. The scanner stops
        between two GenImg polls (it checks for a pause itself, so a lost
        cancellation cannot keep it polling); `timeout` (default
        `pause_timeout`) bounds the wait and raises ReaderBusy."""
        limit = self.pause_timeout if timeout is None else timeout
        async with self._pause_lock:
            self._running.clear()
            self._idle.clear()
            self._pause_requested.set()
            try:
                task = self._task
                if task is not None and not task.done():
                    try:
                        async with asyncio.timeout(limit):
                            await self._idle.wait()
                    except TimeoutError:
                        raise ReaderBusy(
                            f"The fingerprint reader did not stop scanning within {limit:g} s; "
                            "try again, or restart the agent if this repeats"
                        ) from None
                yield
            finally:
                self._pause_requested.clear()
                self._running.set()

    def _emit(self, event: ReaderEvent) -> None:
        log.debug("fingerprint reader event %s", event)
        self._events.put_nowait(event)

    async def _run(self) -> None:
        try:
            await self.driver.wait_ready(self._ready_timeout)
        except FingerprintError as exc:
            self._emit(ReaderFault(str(exc)))
            await self.driver.wait_ready()
        self._emit(ReaderReady(self.driver.capacity))
        faulted = False
        while True:
            if not self._running.is_set():
                self.phase = ReaderPhase.PAUSED
                self._idle.set()
                await self._running.wait()
            try:
                if faulted:
                    await self.driver.wait_ready()
                    faulted = False
                    self._emit(ReaderReconnected())
                self.phase = ReaderPhase.SCANNING
                await self._scan_once()
            except FingerprintError as exc:
                if self.driver.state in (ConnectionState.READY, ConnectionState.BUSY):
                    # Transient (timeout, corrupted reply): the link resynchronised itself.
                    log.info("fingerprint read failed, link recovered: %s", exc)
                    if self._finger_seen:  # somebody is waiting for an answer: tell them
                        self._emit(ReadFailed(str(exc)))
                    await asyncio.sleep(self.driver.poll_interval)
                    continue
                if not faulted:
                    faulted = True
                    self.phase = ReaderPhase.FAULT
                    self._emit(ReaderFault(str(exc)))

    async def _scan_once(self) -> None:
        scan = asyncio.ensure_future(self._identify())
        pause = asyncio.ensure_future(self._wait_pause())
        try:
            done, _ = await asyncio.wait({scan, pause}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await _finish(pause)
            await _finish(scan)
        # Paused: nothing to say, unless the scan had got as far as an answer
        # (a matched finger is always answered).
        if scan.cancelled() or isinstance(scan.exception(), ScanAborted):
            return
        try:
            match = scan.result()
        except NotRecognisedError:
            self._emit(NotRecognised())
        except PoorImageError as exc:
            self._emit(PoorImage(exc.reason, exc.prompt))
        else:
            self._emit(match)
        self._finger_seen = False  # answered; a failure while lifting concerns nobody
        self.phase = ReaderPhase.WAITING_FOR_LIFT
        # A pause (an enrolment, a restore) must not wait for this finger to
        # go: the member enrolling next may keep it on the glass.
        await self._unless_paused(self.driver.wait_for_lift())

    async def _unless_paused(self, coro: Any) -> None:
        work = asyncio.ensure_future(coro)
        pause = asyncio.ensure_future(self._wait_pause())
        try:
            await asyncio.wait({work, pause}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await _finish(pause)
            await _finish(work)

    async def _identify(self) -> FingerMatched:
        """identify(), split so a failure after the image was taken is told to the member."""
        self._finger_seen = False
        await self.driver.wait_for_finger(abort=self._pause_requested.is_set)
        self._finger_seen = True
        await self.driver.extract(1)
        match = await self.driver.search_library(1)
        return FingerMatched(match.slot, match.score, time.time())

    async def _wait_pause(self) -> None:
        await self._pause_requested.wait()


async def _finish(task: asyncio.Future[Any], rounds: int = 20) -> None:
    """Cancel `task` unless done and wait for it, cancelling again if a
    cancellation got lost on the way (Python 3.11's `wait_for`); its
    FingerprintError is left on the task for the caller to read."""
    for _ in range(rounds):
        if task.done():
            break
        task.cancel()
        await asyncio.wait({task}, timeout=0.5)
    if not task.done():
        log.error("fingerprint scan task ignored %d cancellations", rounds)
        return
    if not task.cancelled():
        task.exception()  # retrieved: no "exception never retrieved" warning
