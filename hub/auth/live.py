"""Live connections of signed-in operators (wall sockets, WHEP views) and
the one-time tickets that open sockets.

Ending a session (logout, expiry) or changing the operator behind it
(deactivation, a new role, scope or password) closes its connections within
a second: `end()` may be called from any thread; closers run on the loop.

Tickets keep session tokens out of URLs (and so out of access logs): a
signed-in page POSTs for a ticket, then opens `/ws/wall?ticket=...`. A
ticket names a session, not a token, lives `TICKET_SECONDS`, and works once.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from threading import Lock

from hub.db import utcnow

TICKET_SECONDS = 30.0
MAX_TICKETS = 10_000


@dataclass(eq=False)
class LiveHandle:
    operator_id: int
    session_id: int | None
    close: Callable[[str], None]
    timer: asyncio.TimerHandle | None = None


class LiveSessions:
    def __init__(self) -> None:
        self._handles: set[LiveHandle] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tickets: dict[str, tuple[int, int, float]] = {}
        self._lock = Lock()

    # -- connections (attach/detach on the event loop) --------------------------
    def attach(self, *, operator_id: int, session_id: int | None, expires_at: datetime | None,
               close: Callable[[str], None]) -> LiveHandle:
        """Register a connection; `close(reason)` runs on the loop when its
        session ends. Expiry is a timer, so it needs no polling."""
        self._loop = asyncio.get_running_loop()
        handle = LiveHandle(operator_id, session_id, close)
        if expires_at is not None:
            delay = max(0.0, (expires_at - utcnow()).total_seconds())
            handle.timer = self._loop.call_later(delay, self._fire, handle, "session_expired")
        self._handles.add(handle)
        return handle

    def detach(self, handle: LiveHandle) -> None:
        if handle.timer is not None:
            handle.timer.cancel()
        self._handles.discard(handle)

    def count(self, operator_id: int) -> int:
        return sum(1 for h in self._handles if h.operator_id == operator_id)

    def _fire(self, handle: LiveHandle, reason: str) -> None:
        if handle in self._handles:
            self.detach(handle)
            handle.close(reason)

    @staticmethod
    def _matches(op: int, sid: int | None, operator_id: int | None, session_id: int | None,
                 keep_session: int | None) -> bool:
        if sid is not None and sid == keep_session:
            return False
        return (operator_id is not None and op == operator_id) or (session_id is not None and sid == session_id)

    def _end(self, operator_id: int | None, session_id: int | None, keep_session: int | None, reason: str) -> None:
        for handle in list(self._handles):
            if self._matches(handle.operator_id, handle.session_id, operator_id, session_id, keep_session):
                self._fire(handle, reason)

    def end(self, *, reason: str, operator_id: int | None = None, session_id: int | None = None,
            keep_session: int | None = None) -> None:
        """Close the connections of an operator (but `keep_session`'s), or
        of one session. Call it after the change is committed, so that a
        reconnect sees the new state."""
        with self._lock:
            self._tickets = {k: v for k, v in self._tickets.items()
                             if not self._matches(v[0], v[1], operator_id, session_id, keep_session)}
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._end(operator_id, session_id, keep_session, reason)
        else:
            loop.call_soon_threadsafe(self._end, operator_id, session_id, keep_session, reason)

    # -- tickets (any thread) -------------------------------------------------
    def issue_ticket(self, *, operator_id: int, session_id: int) -> str:
        ticket = secrets.token_urlsafe(24)
        now = time.monotonic()
        with self._lock:
            if len(self._tickets) >= MAX_TICKETS:
                self._tickets = {k: v for k, v in self._tickets.items() if v[2] > now}
                while len(self._tickets) >= MAX_TICKETS:
                    self._tickets.pop(next(iter(self._tickets)))
            self._tickets[_digest(ticket)] = (operator_id, session_id, now + TICKET_SECONDS)
        return ticket

    def redeem_ticket(self, ticket: str) -> int | None:
        """The session the ticket was issued for, once; None if unknown or stale."""
        with self._lock:
            item = self._tickets.pop(_digest(ticket), None)
        if item is None or item[2] < time.monotonic():
            return None
        return item[1]


def _digest(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()
