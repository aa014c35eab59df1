"""The fingerprint backup queue and restore, against a scripted hub
(httpx.MockTransport) and an in-memory module."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from devices.agent.fpsync import FingerprintSync, FingerprintSyncError
from devices.agent.store import Store
from tests.devices.agent.conftest import Parts
from tests.devices.kiosk.conftest import roster


class Module:
    capacity = 200

    def __init__(self) -> None:
        self.library: dict[int, bytes] = {}

    async def events(self):  # type: ignore[no-untyped-def]  # pragma: no cover
        if False:
            yield None

    async def enroll(self, slot: int, prompt: Callable[[str], None]) -> bytes | None:
        return None

    async def delete(self, slot: int) -> None:
        self.library.pop(slot, None)

    async def close(self) -> None:
        return None

    async def template_count(self) -> int:
        return len(self.library)

    async def store_template(self, slot: int, template: bytes) -> None:
        self.library[slot] = template


class Hub:
    def __init__(self) -> None:
        self.up = False
        self.backup: dict[int, dict] = {}
        self.refuse: set[int] = set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if not self.up:
            raise httpx.ConnectError("hub down", request=request)
        assert request.headers["authorization"] == "Bearer tok"
        if request.method == "PUT":
            body = json.loads(request.content)
            if body["member_id"] in self.refuse:
                return httpx.Response(404, json={"detail": "not in branch", "code": "not_in_branch"})
            self.backup[body["slot"]] = body
            return httpx.Response(200, json={})
        if request.method == "DELETE":
            self.backup.pop(int(request.url.path.rsplit("/", 1)[1]), None)
            return httpx.Response(204)
        return httpx.Response(200, json={"branch_id": 1, "templates": list(self.backup.values())})


async def make(tmp_path: Path, hub: Hub, module: Module) -> tuple[Parts, FingerprintSync]:
    parts = await Parts(await Store.open(tmp_path / "agent.db")).load()
    await parts.roster.replace(roster())

    async def token() -> str:
        return "tok"

    sync = FingerprintSync(parts.store, parts.slots, parts.roster, hub_url="http://hub", token=token,
                           reader=module, transport=httpx.MockTransport(hub))
    await sync.open()
    parts.slots.reporter = sync
    return parts, sync


async def test_offline_enrolment_is_queued_then_uploaded(tmp_path: Path) -> None:
    hub, module = Hub(), Module()
    parts, sync = await make(tmp_path, hub, module)
    await parts.slots.assign(0, "11", b"T" * 512)
    await parts.slots.assign(1, "12", b"U" * 512)
    with pytest.raises(FingerprintSyncError, match="cannot reach the hub"):
        await sync.flush()
    assert [op.slot for op in await sync.pending()] == [0, 1]
    await parts.store.close()
    # a restart: the queue is on disk
    parts, sync = await make(tmp_path, hub, module)
    hub.up = True
    assert await sync.flush() == 2
    assert await sync.pending() == []
    assert hub.backup[0]["member_id"] == 11 and base64.b64decode(hub.backup[0]["template_b64"]) == b"T" * 512
    await parts.slots.remove(1)
    await sync.flush()
    assert set(hub.backup) == {0}
    await parts.store.close()


async def test_a_refused_upload_is_dropped(tmp_path: Path) -> None:
    hub, module = Hub(), Module()
    hub.up, hub.refuse = True, {12}
    parts, sync = await make(tmp_path, hub, module)
    await parts.slots.assign(3, "12", b"V" * 512)
    assert await sync.flush() == 0
    assert await sync.pending() == []
    assert "not in branch" in (sync.last_error or "")
    await parts.store.close()


async def test_restore_rebuilds_module_and_slot_map(tmp_path: Path) -> None:
    hub, module = Hub(), Module()
    hub.up = True
    hub.backup = {5: {"member_id": 11, "slot": 5, "template_b64": base64.b64encode(b"A" * 512).decode()}}
    parts, sync = await make(tmp_path, hub, module)
    await parts.slots.assign(9, "13", None, report=False)  # stale: not in the backup, not on the module
    hub.up = False
    await parts.slots.assign(7, "12", b"B" * 512)  # enrolled offline, still queued
    hub.up = True
    report = await sync.restore_if_empty()
    assert report is not None and (report.from_backup, report.from_queue, report.removed) == (1, 1, 1)
    assert module.library == {5: b"A" * 512, 7: b"B" * 512}
    assert parts.slots.items() == {5: "11", 7: "12"}
    assert await sync.restore_if_empty() is None  # module not empty any more
    await parts.store.close()
