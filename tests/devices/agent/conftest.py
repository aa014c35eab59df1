"""Fixtures of the edge agent's tests: a task-leak guard, the agent's parts
on a temporary SQLite file, and the fake hub on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from devices.agent.backoff import Backoff
from devices.agent.meeting import MeetingDesk
from devices.agent.outbox import Outbox
from devices.agent.roster import RosterCache, SlotMap
from devices.agent.store import Store
from tests.devices.agent.fakehub import FakeHub


@pytest.fixture(autouse=True)
async def no_leftover_tasks() -> AsyncIterator[None]:
    yield
    current = asyncio.current_task()
    # give cancelled tasks one turn to finish, then demand none remain
    for _ in range(5):
        left = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        if not left:
            break
        await asyncio.sleep(0)
    left = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    assert not left, f"test left tasks running: {left}"


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait (bounded) until `check()` holds; the bound is a safety net, not a measurement."""
    async def poll() -> None:
        while not check():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


class Parts:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.outbox = Outbox(store)
        self.roster = RosterCache(store)
        self.slots = SlotMap(store)
        self.desk = MeetingDesk(store, self.outbox, self.roster, self.slots)

    async def load(self) -> Parts:
        await self.roster.load()
        await self.slots.load()
        await self.desk.load()
        return self


OpenParts = Callable[[], Awaitable[Parts]]


@pytest.fixture
async def open_parts(tmp_path: Path) -> AsyncIterator[OpenParts]:
    """Open (and reopen, as after a restart) the agent's parts on one file."""
    opened: list[Store] = []

    async def opener() -> Parts:
        store = await Store.open(tmp_path / "agent.db")
        opened.append(store)
        return await Parts(store).load()

    yield opener
    for store in opened:
        await store.close()


@pytest.fixture
async def hub() -> AsyncIterator[FakeHub]:
    h = FakeHub()
    await h.start()
    yield h
    for ws in list(h.live):
        ws.transport.abort()
    await h.stop()


def fast_backoff() -> Backoff:
    return Backoff(base=0.01, cap=0.05, jitter=0.5)
