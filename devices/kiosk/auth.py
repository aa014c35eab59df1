"""The admin PIN gate: short-lived sessions in memory, a lockout after
repeated wrong PINs (the kiosk stands in a public hall)."""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from enum import StrEnum


class PinResult(StrEnum):
    OK = "ok"
    WRONG = "wrong"
    LOCKED = "locked"


class PinGate:
    def __init__(
        self,
        pin: str,
        *,
        session_s: float = 900.0,
        max_failures: int = 5,
        lockout_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pin = pin
        self.session_s = session_s
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self.clock = clock
        self._sessions: dict[str, float] = {}
        self._failures = 0
        self._locked_until = 0.0

    def login(self, pin: str) -> tuple[PinResult, str | None]:
        now = self.clock()
        if now < self._locked_until:
            return PinResult.LOCKED, None
        if not hmac.compare_digest(pin.encode(), self._pin.encode()):
            self._failures += 1
            if self._failures >= self.max_failures:
                self._failures = 0
                self._locked_until = now + self.lockout_s
            return PinResult.WRONG, None
        self._failures = 0
        token = secrets.token_urlsafe(24)
        self._sessions = {t: exp for t, exp in self._sessions.items() if exp > now}
        self._sessions[token] = now + self.session_s
        return PinResult.OK, token

    def check(self, token: str | None) -> bool:
        if not token:
            return False
        expires = self._sessions.get(token)
        if expires is None or expires <= self.clock():
            self._sessions.pop(token, None)
            return False
        self._sessions[token] = self.clock() + self.session_s  # sliding expiry
        return True

    def logout(self, token: str | None) -> None:
        if token:
            self._sessions.pop(token, None)
