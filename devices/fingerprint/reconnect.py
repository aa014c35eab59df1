"""Reconnect policy: exponential backoff with jitter, and the retry loop."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    initial: float = 0.2
    maximum: float = 5.0
    factor: float = 2.0
    jitter: float = 0.1  # fraction of each delay added at random

    def delays(self) -> Iterator[float]:
        delay = self.initial
        while True:
            yield delay * (1 + random.uniform(0, self.jitter))
            delay = min(self.maximum, delay * self.factor)


async def retry_until_done(
    attempt: Callable[[], Awaitable[None]],
    backoff: Backoff,
    *,
    retry_on: tuple[type[BaseException], ...],
    on_failure: Callable[[int, BaseException], None] | None = None,
) -> None:
    """Run `attempt` until it succeeds, sleeping per `backoff` after each failure.

    Cancellation stops the loop; exceptions not in `retry_on` propagate.
    """
    for number, delay in enumerate(backoff.delays(), start=1):
        try:
            await attempt()
            return
        except retry_on as exc:
            if on_failure is not None:
                on_failure(number, exc)
        await asyncio.sleep(delay)
