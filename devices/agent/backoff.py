"""Reconnect policy: exponential backoff with full jitter, kept apart from
the uplink so it can be tested and tuned on its own.

`next_delay()` grows `base * factor**n` up to `cap`, then draws uniformly in
`[cap_n * (1 - jitter), cap_n]` so 500 halls coming back after a county-wide
outage do not reconnect in lock-step. `reset()` after a good session.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    base: float = 1.0
    factor: float = 2.0
    cap: float = 60.0
    jitter: float = 0.5
    rng: random.Random = field(default_factory=random.Random)
    attempts: int = 0

    def __post_init__(self) -> None:
        if self.base <= 0 or self.cap < self.base or self.factor < 1:
            raise ValueError("backoff needs 0 < base <= cap and factor >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("backoff jitter must be between 0 and 1")

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * self.factor ** min(self.attempts, 64))
        self.attempts += 1
        low = ceiling * (1.0 - self.jitter)
        return self.rng.uniform(low, ceiling)

    def reset(self) -> None:
        self.attempts = 0
