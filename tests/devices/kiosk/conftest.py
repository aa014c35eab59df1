"""Kiosk fixtures: the hall on a temporary database, a fake fingerprint
reader (unit tests only; the real one is devices/fingerprint), and the
Starlette app reached with httpx."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devices.agent.hall import Hall
from devices.agent.meeting import MeetingDesk
from devices.agent.outbox import Outbox
from devices.agent.protocol import Roster, parse_hub_message
from devices.agent.reader import ENROL_AGAIN, ENROL_LIFT, ENROL_PRESS
from devices.agent.roster import RosterCache, SlotMap
from devices.agent.store import Store
from devices.kiosk.app import create_kiosk_app

PIN = "246810"
ROSTER = {
    "version": "r1",
    "members": [
        {"id": 11, "member_no": "001", "name": "张三", "status": "full", "excused": False,
         "committee": True},
        {"id": 12, "member_no": "002", "name": "李四", "status": "full", "excused": False,
         "committee": False},
        {"id": 13, "member_no": "003", "name": "王五", "status": "full", "excused": True,
         "committee": False},
    ],
}


@pytest.fixture(autouse=True)
async def no_leftover_tasks() -> AsyncIterator[None]:
    yield
    current = asyncio.current_task()
    for _ in range(5):
        if not [t for t in asyncio.all_tasks() if t is not current and not t.done()]:
            break
        await asyncio.sleep(0)
    left = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    assert not left, f"test left tasks running: {left}"


# Fake reader events: same class names and fields as devices/fingerprint/reader.py.
@dataclass(frozen=True)
class ReaderReady:
    capacity: int = 200


@dataclass(frozen=True)
class FingerMatched:
    slot: int
    score: int = 90


@dataclass(frozen=True)
class NotRecognised:
    pass


@dataclass(frozen=True)
class PoorImage:
    reason: str = "messy"


@dataclass(frozen=True)
class ReaderFault:
    message: str = "no answer from the module"


@dataclass(frozen=True)
class ReaderReconnected:
    pass


class FakeReader:
    """A reader that enrols at once, prompting press/lift/again."""

    capacity = 200

    def __init__(self) -> None:
        self.enrolled: list[int] = []
        self.prompts: list[str] = []

    async def events(self) -> AsyncIterator[object]:  # pragma: no cover - not iterated here
        if False:
            yield None

    async def enroll(self, slot: int, prompt: Callable[[str], None]) -> bytes | None:
        for step in (ENROL_PRESS, ENROL_LIFT, ENROL_AGAIN):
            prompt(step)
            self.prompts.append(step)
        self.enrolled.append(slot)
        return b"template"

    async def delete(self, slot: int) -> None:
        return None

    async def close(self) -> None:
        return None


@dataclass
class Kiosk:
    hall: Hall
    client: httpx.AsyncClient
    reader: FakeReader
    store: Store

    async def login(self) -> None:
        r = await self.client.post("/api/admin/login", json={"pin": PIN})
        assert r.status_code == 200, r.text


def roster() -> Roster:
    message = parse_hub_message(json.dumps({"type": "roster", "id": "r", "ts": 0, **ROSTER}))
    assert isinstance(message, Roster)
    return message


@pytest.fixture
async def kiosk(tmp_path: Path) -> AsyncIterator[Kiosk]:
    store = await Store.open(tmp_path / "agent.db")
    outbox = Outbox(store)
    cache = RosterCache(store)
    await cache.replace(roster())
    slots = SlotMap(store)
    desk = MeetingDesk(store, outbox, cache, slots)
    reader = FakeReader()
    hall = Hall(desk, outbox, reader=reader)
    app = create_kiosk_app(hall, admin_pin=PIN)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kiosk") as client:
        yield Kiosk(hall, client, reader, store)
    await store.close()
