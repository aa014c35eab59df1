"""Fingerprint check-in end to end: a real hub (`branchlive hub` subprocess),
a real edge agent (`EdgeApp`, reader port from BRANCHLIVE_EDGE_READER_PORT)
on an emulated module's pty, and an operator's `/ws/wall` socket.

Enrol a finger on the kiosk, check in, a second press, an unknown finger,
the hub down during a check-in, a member removed from the roster, then a
second kiosk of the branch with a fresh module restored from the hub's
backup identifies the same finger again. Timeouts only guard against hangs.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from branchlive.bench_fingerprint import (
    HubProcess,
    WallWatcher,
    enrol_on_kiosk,
    kiosk_client,
    new_enrolment_code,
    seed_branch,
    start_edge,
    wait_for,
)
from firmware_stubs.fingerprint.emulator import FingerprintEmulator

pytestmark = pytest.mark.timeout(300)

ZHANG, LI = "finger-zhang-right-index", "finger-li-right-index"


async def prompt_becomes(app, code: str, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    await wait_for(lambda: app.hall.prompt()[0].value == code, timeout, f"kiosk prompt {code!r}")


async def press(app, emulator: FingerprintEmulator, finger: str, code: str) -> None:  # type: ignore[no-untyped-def]
    """Place a finger until the kiosk shows `code`, then lift it and let the reader see the glass empty."""
    emulator.place_finger(finger)
    try:
        await prompt_becomes(app, code)
    finally:
        emulator.lift_finger()
    await wait_for(lambda: app.reader.checkin.phase.value == "scanning", 30, "the reader scanning again")


def attendance(hub: HubProcess, token: str, meeting_id: str) -> list[dict]:
    r = httpx.get(f"{hub.url}/api/v1/meetings/{meeting_id}/attendance",
                  headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_fingerprint_checkin_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hub = HubProcess(tmp_path / "hub")
    hub.start()
    emulator = FingerprintEmulator("R307", library_path=tmp_path / "library-1.json", link=tmp_path / "fp0")
    emulator.start()
    monkeypatch.setenv("BRANCHLIVE_EDGE_READER_PORT", str(emulator.link))
    wall = app = app2 = kiosk = kiosk2 = None
    emulator2: FingerprintEmulator | None = None
    try:
        seeded = seed_branch(hub.url, [("张三", "D001"), ("李四", "D002"), ("王五", "D003")])
        zhang, li, wang = seeded.members["张三"], seeded.members["李四"], seeded.members["王五"]
        wall = WallWatcher(hub.url, seeded.token)
        wall.start()
        app = await start_edge(tmp_path / "edge", hub.url, seeded.enrolment_code)
        assert app.settings.reader_port == str(emulator.link)
        await wait_for(lambda: app.online and len(app.roster) == 3, 60, "the agent online with its roster")
        await wait_for(lambda: app.hall.reader_status.value == "ready", 30, "the reader ready")
        kiosk = await kiosk_client(app)

        # -- enrolment through the kiosk admin API; backed up to the hub --------------
        assert await enrol_on_kiosk(app, kiosk, emulator, zhang, ZHANG) == 0
        assert await enrol_on_kiosk(app, kiosk, emulator, li, LI) == 1
        assert set(emulator.library()) == {0, 1}
        admin = {"Authorization": f"Bearer {seeded.token}"}

        def backed_up() -> dict[int, list[int]]:
            r = httpx.get(f"{hub.url}/api/v1/branches/{seeded.branch_id}/fingerprints", headers=admin, timeout=30)
            return {m["member_id"]: [f["slot"] for f in m["fingers"]] for m in r.json()}

        await wait_for(lambda: backed_up() == {zhang: [0], li: [1]}, 30, "the templates backed up on the hub")

        # -- a meeting; the finger checks in and the wall shows it ------------------------
        r = await kiosk.post("/api/admin/meeting/start", json={"meeting_type": "theme_day", "topic": "主题党日"})
        assert r.status_code == 201, r.text
        meeting_id = r.json()["meeting_id"]
        await wait_for(wall.connected.is_set, 30, "the wall socket")
        await press(app, emulator, ZHANG, "checked_in")
        await wait_for(lambda: bool(wall.of(zhang, meeting_id)), 30, "张三's check-in on the wall")
        shown = wall.of(zhang, meeting_id)[0]
        assert shown["method"] == "fingerprint" and shown["name"] == "张三"

        # -- the same finger again: already checked in, stored once ------------------------
        await press(app, emulator, ZHANG, "already_checked_in")
        # -- a finger nobody enrolled ------------------------------------------------------
        await press(app, emulator, "finger-stranger", "not_recognised")
        await wait_for(lambda: [a["member_id"] for a in attendance(hub, seeded.token, meeting_id)] == [zhang], 30,
                       "张三 in the attendance")

        # -- the hub is down during a check-in: kept, then delivered once -------------------
        hub.stop()
        await wait_for(lambda: not app.online, 30, "the agent to notice the hub is gone")
        await press(app, emulator, LI, "checked_in")
        assert await app.outbox.count_pending() >= 1
        hub.start()
        await wait_for(lambda: bool(wall.of(li, meeting_id)), 60, "李四's check-in on the wall after the hub is back")
        await wait_for(lambda: app.online, 30, "the agent back online")
        rows = attendance(hub, seeded.token, meeting_id)
        assert sorted(a["member_id"] for a in rows) == sorted([zhang, li])
        assert len(wall.of(li, meeting_id)) == 1

        # -- a member removed from the roster: "not a member of this branch" ----------------
        r = httpx.patch(f"{hub.url}/api/v1/members/{wang}", headers=admin, json={"active": False}, timeout=30)
        assert r.status_code == 200, r.text
        await wait_for(lambda: len(app.roster) == 2, 30, "the roster without 王五")
        r = httpx.patch(f"{hub.url}/api/v1/members/{li}", headers=admin, json={"active": False}, timeout=30)
        assert r.status_code == 200, r.text
        await wait_for(lambda: app.roster.get(str(li)) is None, 30, "the roster without 李四")
        r = await kiosk.post("/api/admin/meeting/end", json={})
        assert r.status_code == 200, r.text
        r = await kiosk.post("/api/admin/meeting/start", json={"meeting_type": "committee", "topic": "支委会"})
        meeting2 = r.json()["meeting_id"]
        await press(app, emulator, LI, "not_a_member")
        await kiosk.aclose()
        kiosk = None
        await app.shutdown()
        app = None
        emulator.stop()

        # -- a second kiosk of the branch, fresh module: restored from the backup -----------
        r = httpx.patch(f"{hub.url}/api/v1/members/{li}", headers=admin, json={"active": True}, timeout=30)
        assert r.status_code == 200, r.text
        emulator2 = FingerprintEmulator("R307", library_path=tmp_path / "library-2.json", link=tmp_path / "fp0")
        emulator2.start()
        assert emulator2.library() == {}
        code2 = new_enrolment_code(hub.url, seeded.token, seeded.branch_id, "备用一体机")
        app2 = await start_edge(tmp_path / "edge-2", hub.url, code2)
        await wait_for(lambda: app2.fpsync.last_restore is not None, 60, "the restore into the empty module")
        assert set(emulator2.library()) == {0, 1}
        assert app2.slots.items() == {0: str(zhang), 1: str(li)}
        await wait_for(lambda: app2.online and app2.roster.get(str(zhang)) is not None, 60, "the second agent online")
        await wait_for(lambda: app2.hall.reader_status.value == "ready", 30, "the reader ready")
        kiosk2 = await kiosk_client(app2)
        # the branch's committee meeting is still open: the second kiosk shows it (one meeting per branch)
        await wait_for(lambda: app2.desk.current is not None and app2.desk.current.id == meeting2, 30,
                       "the second kiosk on the branch's open meeting")
        r = await kiosk2.post("/api/admin/meeting/end", json={})
        assert r.status_code == 200, r.text
        r = await kiosk2.post("/api/admin/meeting/start", json={"meeting_type": "party_lecture", "topic": "党课"})
        assert r.status_code == 201, r.text
        meeting3 = r.json()["meeting_id"]
        await press(app2, emulator2, ZHANG, "checked_in")
        await wait_for(lambda: bool(wall.of(zhang, meeting3)), 30, "张三 identified by the restored module")
        assert wall.of(zhang, meeting2) == []
    finally:
        for client in (kiosk, kiosk2):
            if client is not None:
                await client.aclose()
        for edge in (app, app2):
            if edge is not None:
                await edge.shutdown()
        if wall is not None:
            await wall.stop()
        emulator.stop()
        if emulator2 is not None:
            emulator2.stop()
        hub.stop()
