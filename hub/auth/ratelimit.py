"""Failed-attempt limiter with exponential backoff, per key.

Keys are strings such as ``addr:10.0.0.7`` or ``user:admin``. A key may
fail `per_minute` times within a minute; the failure that reaches the limit
blocks the key for `base_seconds`, and every further failure after a block
doubles the block (up to `max_seconds`). A blocked key is refused before any
password is checked, so a block costs an attacker time, not the hub.

The per-account key is what makes a limiter a lock-out tool, so the caller
skips it for an address the account has signed in from before (see
hub/auth/service.py): hammering `admin` from elsewhere slows the attacker,
never the county admin at the usual desk.

In-process on purpose: one hub process serves the control plane; with
several, put the limiter in the database or a broker (noted in README)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from threading import Lock
from typing import Any

from hub.errors import TooManyRequests, Unauthorized

MAX_KEYS = 100_000  # bounded memory under a flood of made-up addresses


@dataclass
class _Bucket:
    failures: deque[float] = field(default_factory=deque)
    strikes: int = 0
    blocked_until: float = 0.0


class LoginLimiter:
    def __init__(self, per_minute: int, *, base_seconds: float = 60.0, max_seconds: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.base_seconds = base_seconds
        self.max_seconds = max_seconds
        self._now = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = Lock()

    @classmethod
    def from_settings(cls, settings: Any, per_minute: int) -> LoginLimiter:
        return cls(per_minute, base_seconds=settings.login_backoff_seconds,
                   max_seconds=settings.login_backoff_max_seconds)

    def _bucket(self, key: str, now: float) -> _Bucket:
        b = self._buckets.get(key)
        if b is None:
            if len(self._buckets) >= MAX_KEYS:
                self._evict(now)
            b = self._buckets[key] = _Bucket()
        while b.failures and now - b.failures[0] > 60:
            b.failures.popleft()
        # Quiet for as long as the longest block: forgive the past strikes.
        if b.strikes and now - b.blocked_until > self.max_seconds:
            b.strikes = 0
        return b

    def _evict(self, now: float) -> None:
        idle = [k for k, b in self._buckets.items() if b.blocked_until < now and not b.failures]
        for k in idle or list(self._buckets)[: len(self._buckets) // 2]:
            del self._buckets[k]

    def retry_after(self, *keys: str) -> float:
        """Seconds until another attempt is allowed (0 = allowed now)."""
        now = self._now()
        with self._lock:
            return max([0.0] + [self._bucket(k, now).blocked_until - now for k in keys])

    def failed(self, *keys: str) -> None:
        now = self._now()
        with self._lock:
            for key in keys:
                b = self._bucket(key, now)
                b.failures.append(now)
                if len(b.failures) >= self.per_minute or b.strikes:
                    b.strikes += 1
                    b.blocked_until = now + min(self.base_seconds * 2 ** (b.strikes - 1), self.max_seconds)
                    b.failures.clear()

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._buckets.pop(key, None)

    @contextmanager
    def attempt(self, key: str, what: str) -> Iterator[None]:
        """Refuse while `key` is blocked; count an Unauthorized raised inside
        as a failure of `key`."""
        wait = self.retry_after(key)
        if wait > 0:
            raise TooManyRequests(f"Too many wrong {what}. Wait {int(wait) + 1} seconds and try again.",
                                  retry_after=int(wait) + 1)
        try:
            yield
        except Unauthorized:
            self.failed(key)
            raise
