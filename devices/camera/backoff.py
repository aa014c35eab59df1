"""Exponential backoff with full jitter: the reconnect policy shared by sources and publisher."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays base, 2*base, 4*base ... capped at `cap`, each scaled by a random factor.

    Jitter spreads 500 halls that lost the hub at the same moment over the
    whole window instead of having them knock together.
    """

    base_s: float = 1.0
    cap_s: float = 30.0
    jitter: float = 0.5
    attempts: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def next_delay(self) -> float:
        raw = min(self.cap_s, self.base_s * (2 ** min(self.attempts, 30)))
        self.attempts += 1
        low = raw * (1.0 - self.jitter)
        return low + (raw - low) * self.rng.random()

    def reset(self) -> None:
        self.attempts = 0
