from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import aioice.ice
import pytest

from tests.devices.media.whip_receiver import WhipReceiver


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # aioice never offers 127.0.0.1 (shared/notes/aiortc-capacity.md, pitfall 1):
    # make both peers offer exactly loopback, as devices.media.ice.restrict_host_addresses does.
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])
    yield


@pytest.fixture
async def receiver() -> AsyncIterator[WhipReceiver]:
    r = WhipReceiver()
    await r.start()
    yield r
    await r.stop()
    await asyncio.sleep(0)
