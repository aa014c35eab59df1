"""The hub's one in-process event bus and the events that travel on it.

Events are frozen dataclasses. Producers call `bus.publish(event)` from the
event loop (or `publish_threadsafe` from a worker thread); consumers either
register a callback with `bus.on(EventType, fn)` or open a `Subscription`
(an async iterator with a bounded queue) with `bus.subscribe(...)`. A
subscriber that falls behind never blocks the producer: its queue overflows,
it is marked `overflowed`, and it should resynchronise from a snapshot (the
wall does exactly that).

Several hub nodes (hub/cluster/) share one logical bus: a forwarder
registered with `bus.forward(fn)` sees every event published on this node
and sends it to the broker; events from other nodes come back through
`publish_from_peer`, which reaches local consumers only (never forwarded
again, so nothing loops). With no broker there is no forwarder.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """Base class of every event. `branch_id` is None for county-wide events."""


@dataclass(frozen=True)
class MeetingStarted(Event):
    branch_id: int
    meeting_id: str
    meeting_type: str
    topic: str
    started_at: datetime


@dataclass(frozen=True)
class MeetingEnded(Event):
    branch_id: int
    meeting_id: str
    ended_at: datetime


@dataclass(frozen=True)
class CheckInRecorded(Event):
    branch_id: int
    meeting_id: str
    member_id: int
    member_name: str
    checked_in_at: datetime
    method: str
    late: bool
    # When the edge says it sent the message (epoch seconds), for latency
    # measurement end to end.
    edge_sent_ts: float | None = None


@dataclass(frozen=True)
class DeviceConnected(Event):
    branch_id: int
    device_id: int


@dataclass(frozen=True)
class DeviceDisconnected(Event):
    branch_id: int
    device_id: int


@dataclass(frozen=True)
class DeviceHealthReported(Event):
    branch_id: int
    device_id: int
    health: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ThumbnailUpdated(Event):
    branch_id: int
    taken_at: datetime
    size: int


@dataclass(frozen=True)
class HeadcountReported(Event):
    branch_id: int
    meeting_id: str | None
    count: int
    taken_at: datetime


@dataclass(frozen=True)
class StreamStateChanged(Event):
    """Media plane: 'live' (media flowing), 'stalled' (connected, nothing
    arriving), 'offline' (no publisher)."""

    branch_id: int
    state: str


@dataclass(frozen=True)
class KeyframeRequested(Event):
    """Media plane asks the hall's edge agent for a keyframe (a viewer joined)."""

    branch_id: int


@dataclass(frozen=True)
class RosterChanged(Event):
    branch_id: int


@dataclass(frozen=True)
class OrgUnitChanged(Event):
    """A unit was created, renamed, moved, deactivated or reactivated (`branch_id` is the unit's id)."""

    branch_id: int


@dataclass(frozen=True)
class LeaveFiled(Event):
    """请假: a member's leave request for one meeting."""

    branch_id: int
    meeting_id: str
    member_id: int


@dataclass(frozen=True)
class MeetingScheduled(Event):
    branch_id: int
    meeting_id: str


@dataclass(frozen=True)
class AlertRaised(Event):
    branch_id: int | None
    kind: str
    message: str


E = TypeVar("E", bound=Event)


class Subscription:
    """A bounded queue of events for one consumer (e.g. one wall socket)."""

    def __init__(self, bus: EventBus, types: tuple[type[Event], ...], maxsize: int) -> None:
        self._bus = bus
        self.types = types
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self.overflowed = False

    def _offer(self, event: Event) -> None:
        if self.types and not isinstance(event, self.types):
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True

    async def get(self) -> Event:
        return await self.queue.get()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        return await self.queue.get()

    def close(self) -> None:
        self._bus._subscriptions.discard(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    def __init__(self) -> None:
        self._callbacks: dict[type[Event], list[Callable[[Any], None]]] = {}
        self._subscriptions: set[Subscription] = set()
        self._forwarders: list[Callable[[Event], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def on(self, event_type: type[E], callback: Callable[[E], None]) -> Callable[[], None]:
        """Call `callback(event)` on the loop for every event of this type
        (subclasses included). Returns a function that unregisters it."""
        self._callbacks.setdefault(event_type, []).append(callback)
        return lambda: self._callbacks[event_type].remove(callback)

    def subscribe(self, *types: type[Event], maxsize: int = 10_000) -> Subscription:
        sub = Subscription(self, types, maxsize)
        self._subscriptions.add(sub)
        return sub

    def forward(self, forwarder: Callable[[Event], None]) -> Callable[[], None]:
        """Call `forwarder(event)` for every event published on this node
        (not for those from peers). Returns a function that removes it."""
        self._forwarders.append(forwarder)
        return lambda: self._forwarders.remove(forwarder)

    def publish(self, event: Event) -> None:
        self._deliver(event)
        for forwarder in list(self._forwarders):
            try:
                forwarder(event)
            except Exception:  # the broker being down must not stop this node
                log.exception("event forwarder %r failed on %r", forwarder, event)

    def publish_from_peer(self, event: Event) -> None:
        """An event another node published: local consumers only."""
        self._deliver(event)

    def _deliver(self, event: Event) -> None:
        for event_type, callbacks in list(self._callbacks.items()):
            if isinstance(event, event_type):
                for callback in list(callbacks):
                    try:
                        callback(event)
                    except Exception:  # one bad consumer must not stop the others
                        log.exception("event handler %r failed on %r", callback, event)
        for sub in list(self._subscriptions):
            sub._offer(event)

    def publish_threadsafe(self, event: Event) -> None:
        if self._loop is None:
            raise RuntimeError("EventBus.bind_loop() was not called before publish_threadsafe")
        self._loop.call_soon_threadsafe(self.publish, event)
