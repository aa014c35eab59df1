"""Failed-login limiter: a sliding window per account and per address.

In-process on purpose: one hub process serves the control plane; with
several, put the limiter in the database or a broker (noted in README)."""

from __future__ import annotations

import time
from collections import deque
from threading import Lock


class LoginLimiter:
    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._failures: dict[str, deque[float]] = {}
        self._lock = Lock()

    def _window(self, key: str, now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and now - q[0] > 60:
            q.popleft()
        return q

    def retry_after(self, *keys: str) -> float:
        """Seconds until another attempt is allowed (0 = allowed now)."""
        now = time.monotonic()
        with self._lock:
            waits = [
                60 - (now - q[0])
                for q in (self._window(k, now) for k in keys)
                if len(q) >= self.per_minute
            ]
        return max(waits, default=0.0)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._window(key, now).append(now)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
