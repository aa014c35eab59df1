"""A reader that never strands a member, on the emulated module's real pty.

A real hub (`branchlive hub` subprocess) keeps the branch's fingerprint
backup; real edge agents (`EdgeApp`, the reader on the emulator's pty):

- restore of 20 templates into an empty module at start, nobody touching
  the glass, completes in every one of 20 starts (it stalled in 15 of 16);
- a module emptied while the agent runs (reset in place, or swapped: a new
  empty module plugged in) is refilled from the backup, and the next finger
  checks in;
- with the data disk full (a small tmpfs filled to the last byte), every
  matched finger is answered on the kiosk, and every check-in the kiosk
  confirmed reaches the hub; past the reserve the member is sent to staff
  and the secretary sees who.
"""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from branchlive.bench_fingerprint import (
    HubProcess,
    Seeded,
    kiosk_client,
    new_enrolment_code,
    seed_branch,
    start_edge,
    template_of,
    wait_for,
)
from firmware_stubs.fingerprint.emulator import FingerprintEmulator
from firmware_stubs.fingerprint.module import Timings

pytestmark = pytest.mark.timeout(900)

DATASHEET = Timings(capture=0.2, extract=0.5, search=0.1, reset=0.2)


def finger(name: str) -> str:
    return f"finger-{name}"


def seed_backup(hub: HubProcess, seeded: Seeded, names: list[str]) -> None:
    """The branch's backup on the hub: one template per member, slot = index,
    uploaded with the token of a device enrolled for that purpose."""
    code = new_enrolment_code(hub.url, seeded.token, seeded.branch_id, "录入机")
    r = httpx.post(f"{hub.url}/api/v1/devices/enrol", json={"code": code}, timeout=30)
    assert r.status_code < 300, r.text
    headers = {"Authorization": f"Bearer {r.json()['token']}"}
    for slot, name in enumerate(names):
        r = httpx.put(f"{hub.url}/api/v1/fingerprints/templates", headers=headers, timeout=30, json={
            "member_id": seeded.members[name], "slot": slot,
            "template_b64": base64.b64encode(template_of(finger(name))).decode()})
        assert r.status_code < 300, r.text


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    process = HubProcess(tmp_path / "hub")
    process.start()
    try:
        yield process
    finally:
        process.stop()


def attendance(hub: HubProcess, token: str, meeting_id: str) -> set[int]:
    r = httpx.get(f"{hub.url}/api/v1/meetings/{meeting_id}/attendance",
                  headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 200, r.text
    return {a["member_id"] for a in r.json()}


async def press_until(app, emulator: FingerprintEmulator, name: str, codes: set[str]) -> str:  # type: ignore[no-untyped-def]
    """Place `name`'s finger until the kiosk answers with one of `codes`; lift it; return the answer."""
    def answered() -> bool:
        return app.hall.prompt()[0].value in codes

    await wait_for(lambda: app.hall.prompt()[0].value not in codes, 30, "the previous answer to clear")
    emulator.place_finger(finger(name))
    try:
        await wait_for(answered, 60, f"the kiosk to answer {name}'s finger with one of {sorted(codes)}")
        code = str(app.hall.prompt()[0].value)
    finally:
        emulator.lift_finger()
    await wait_for(lambda: app.reader.checkin.phase.value == "scanning", 30, "the reader scanning again")
    app.hall._prompt = None  # the next member steps up: the kiosk is back at rest
    return code


async def test_restore_at_start_completes_in_every_one_of_20_starts(tmp_path: Path, hub: HubProcess) -> None:
    names = [f"党员{i:02d}" for i in range(20)]
    seeded = seed_branch(hub.url, [(n, f"R{i:03d}") for i, n in enumerate(names)])
    seed_backup(hub, seeded, names)
    completed = 0
    for start in range(20):
        emulator = FingerprintEmulator("R307", library_path=tmp_path / f"library-{start}.json",
                                       link=tmp_path / f"fp{start}", timings=DATASHEET)
        emulator.start()
        app = None
        try:
            assert emulator.library() == {}
            code = new_enrolment_code(hub.url, seeded.token, seeded.branch_id, f"一体机{start}")
            app = await start_edge(tmp_path / f"edge-{start}", hub.url, code, reader_port=str(emulator.link))
            # Nobody touches the glass: the restore must finish on its own.
            sync = app.fpsync
            await wait_for(lambda: sync.last_restore is not None, 120, f"the restore of start {start}")  # noqa: B023
            assert sync.last_restore.written == 20
            assert len(emulator.library()) == 20
            assert emulator.finger is None
            completed += 1
        finally:
            if app is not None:
                await app.shutdown()
            emulator.stop()
    assert completed == 20


async def test_a_module_emptied_or_swapped_while_running_is_refilled(tmp_path: Path, hub: HubProcess) -> None:
    names = ["张三", "李四", "王五"]
    seeded = seed_branch(hub.url, [(n, f"S{i:03d}") for i, n in enumerate(names)])
    seed_backup(hub, seeded, names)
    emulator = FingerprintEmulator("R307", library_path=tmp_path / "library.json", link=tmp_path / "fp0",
                                   timings=DATASHEET)
    emulator.start()
    app = kiosk = None
    try:
        app = await start_edge(tmp_path / "edge", hub.url, seeded.enrolment_code, reader_port=str(emulator.link),
                               reader_check_s=2)
        await wait_for(lambda: app.fpsync.last_restore is not None and app.online, 60, "the first restore")
        assert len(emulator.library()) == 3
        kiosk = await kiosk_client(app)
        r = await kiosk.post("/api/admin/meeting/start", json={"meeting_type": "theme_day", "topic": "主题党日"})
        assert r.status_code == 201, r.text
        meeting_id = r.json()["meeting_id"]
        assert await press_until(app, emulator, "张三", {"checked_in"}) == "checked_in"

        # Reset in place: no reconnect, the module simply knows nobody any more.
        first = app.fpsync.last_restore
        emulator.wipe_library()
        await wait_for(lambda: app.fpsync.last_restore is not first and len(emulator.library()) == 3, 60,
                       "the emptied module refilled from the backup")
        assert await press_until(app, emulator, "李四", {"checked_in"}) == "checked_in"

        # Swapped: unplugged, a new empty module on the same port.
        second = app.fpsync.last_restore
        emulator.unplug()
        await wait_for(lambda: app.hall.reader_status.value == "fault", 30, "the kiosk showing the reader gone")
        emulator.wipe_library()
        emulator.replug()
        await wait_for(lambda: app.fpsync.last_restore is not second and len(emulator.library()) == 3, 60,
                       "the new module filled from the backup")
        assert await press_until(app, emulator, "王五", {"checked_in"}) == "checked_in"
        await wait_for(lambda: attendance(hub, seeded.token, meeting_id) == set(seeded.members.values()), 30,
                       "the three check-ins on the hub")
    finally:
        if kiosk is not None:
            await kiosk.aclose()
        if app is not None:
            await app.shutdown()
        emulator.stop()


async def test_manual_restore_finishes_every_time_and_can_be_cancelled(tmp_path: Path, hub: HubProcess) -> None:
    """The kiosk's 恢复指纹 with nobody at the glass: done every time, or
    cancelled on request, and enrolment is never left locked."""
    import asyncio

    names = [f"党员{i:02d}" for i in range(20)]
    seeded = seed_branch(hub.url, [(n, f"M{i:03d}") for i, n in enumerate(names)])
    seed_backup(hub, seeded, names)
    emulator = FingerprintEmulator("R307", library_path=tmp_path / "library.json", link=tmp_path / "fp0",
                                   timings=DATASHEET)
    emulator.start()
    app = kiosk = None
    try:
        app = await start_edge(tmp_path / "edge", hub.url, seeded.enrolment_code, reader_port=str(emulator.link))
        await wait_for(lambda: app.fpsync.last_restore is not None and app.online, 60, "the restore at start")
        kiosk = await kiosk_client(app)
        for _ in range(5):
            r = await kiosk.post("/api/admin/fingerprints/restore", json={})
            assert r.status_code == 200, r.text
            assert r.json()["written"] == 20
            assert not app.hall.module_lock.locked()
        # a slow module: cancel half-way
        emulator.set_delay(0.2)
        request = asyncio.ensure_future(kiosk.post("/api/admin/fingerprints/restore", json={}))
        await wait_for(lambda: (app.fpsync.progress or (0, 0))[0] >= 2 and app.fpsync.state.value == "restoring",
                       60, "the restore under way")
        assert (await kiosk.get("/api/state")).json()["fingerprints"]["state"] == "restoring"
        r = await kiosk.post("/api/admin/fingerprints/restore/cancel", json={})
        assert r.json() == {"cancelled": True}
        r = await request
        assert r.status_code == 409 and "cancelled" in r.json()["error"]
        assert app.hall.prompt()[0].value == "restore_failed"
        assert not app.hall.module_lock.locked()
        await wait_for(lambda: app.reader.checkin.phase.value == "scanning", 30, "the reader scanning again")
        emulator.set_delay(0)
        r = await kiosk.post("/api/admin/fingerprints/restore", json={})
        assert r.status_code == 200 and r.json()["written"] == 20
        assert len(emulator.library()) == 20
    finally:
        if kiosk is not None:
            await kiosk.aclose()
        if app is not None:
            await app.shutdown()
        emulator.stop()


@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                      capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs as the edge's data disk")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(disk: Path, name: str) -> None:
    """Write until the disk refuses another byte (what a recording does to it)."""
    fd = os.open(disk / name, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for size in (65536, 4096, 1):
            while True:
                try:
                    os.write(fd, b"\0" * size)
                except OSError:
                    break
    finally:
        os.close(fd)


async def test_full_disk_answers_every_matched_finger(tmp_path: Path, hub: HubProcess) -> None:
    names = [f"党员{i}" for i in range(6)]
    seeded = seed_branch(hub.url, [(n, f"D{i:03d}") for i, n in enumerate(names)])
    seed_backup(hub, seeded, names)
    emulator = FingerprintEmulator("R307", library_path=tmp_path / "library.json", link=tmp_path / "fp0",
                                   timings=DATASHEET)
    emulator.start()
    app = kiosk = None
    with small_disk(tmp_path / "disk", "6m") as disk:
        try:
            app = await start_edge(disk / "edge", hub.url, seeded.enrolment_code, reader_port=str(emulator.link),
                                   outbox_reserve_mb=1)
            await wait_for(lambda: app.fpsync.last_restore is not None and app.online, 60, "the restore")
            assert app.store.reserve_path.stat().st_size == 2**20
            kiosk = await kiosk_client(app)
            r = await kiosk.post("/api/admin/meeting/start", json={"meeting_type": "theme_day", "topic": "满盘"})
            assert r.status_code == 201, r.text
            meeting_id = r.json()["meeting_id"]

            fill(disk, "recordings-1.bin")  # recordings filled the disk
            answers = {}
            for name in names[:3]:
                answers[name] = await press_until(app, emulator, name, {"checked_in", "store_failed"})
            # the reserve is there for exactly this: all three confirmed
            assert answers == dict.fromkeys(names[:3], "checked_in")
            assert app.store.reserve_used

            fill(disk, "recordings-2.bin")  # and then the reserve's room too
            for name in names[3:5]:
                answers[name] = await press_until(app, emulator, name, {"checked_in", "store_failed"})
            assert all(answers[n] in ("checked_in", "store_failed") for n in names[3:5])
            for name in names[3:5]:
                if answers[name] == "store_failed":
                    assert name in [u["name"] for u in app.hall.unstored]
            if "store_failed" in answers.values():
                faults = {f["code"] for f in app._health()["faults"]}
                assert "checkin_not_stored" in faults
                state = (await kiosk.get("/api/state")).json()
                assert any(u["name"] == names[3] for u in state["unstored"]) or answers[names[3]] == "checked_in"

            print("answers on a full disk:", answers)
            confirmed = {seeded.members[n] for n, a in answers.items() if a == "checked_in"}
            await wait_for(lambda: confirmed <= attendance(hub, seeded.token, meeting_id), 60,
                           "every check-in the kiosk confirmed on the hub")

            (disk / "recordings-1.bin").unlink()  # space again: the last member checks in normally
            (disk / "recordings-2.bin").unlink()
            assert await press_until(app, emulator, names[5], {"checked_in", "store_failed"}) == "checked_in"
            await wait_for(lambda: seeded.members[names[5]] in attendance(hub, seeded.token, meeting_id), 60,
                           "the last check-in on the hub")
            await wait_for(lambda: not app.store.reserve_used, 60, "the reserve put back")
        finally:
            if kiosk is not None:
                await kiosk.aclose()
            if app is not None:
                await app.shutdown()
            emulator.stop()
