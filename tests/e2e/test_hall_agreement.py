"""Kiosk and hub agree, end to end with real processes and real Chromium.

A hub (`branchlive hub`, on PostgreSQL when scripts/test provides one), two
`branchlive edge` agents of the same branch (one with the emulated R307 on
a pty, one without a reader), the county's wall and branch view and both
kiosk pages in Chromium:

- a meeting scheduled on the hub shows on the kiosk and is started there
  from the schedule; check-ins are late relative to its scheduled start;
- the second device of the branch, starting a meeting, joins the same one;
  a staff check-in there counts in the same meeting;
- a leave request (请假) filed in the kiosk's admin mode shows on the branch
  view and in the numbers;
- the wall tile, the branch view and both kiosks show the same 实到 / 应到 /
  请假 / 法定人数 (not met, then met).
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from branchlive.bench_fingerprint import template_of
from branchlive.hub_process import free_port
from firmware_stubs.fingerprint.emulator import FingerprintEmulator
from tests.dashboard.helpers import bench, signed_in_page
from tests.e2e.linkcut import SilentLink

pytestmark = pytest.mark.timeout(600)
PIN = "246810"
MEMBERS = [  # name, member_no, status, excused, has a finger
    ("甲", "H01", "full", False, True), ("乙", "H02", "full", False, True), ("丙", "H03", "full", False, True),
    ("丁", "H04", "full", False, False), ("戊", "H05", "full", False, False),
    ("己", "H06", "probationary", False, True), ("庚", "H07", "full", True, False),
]


def until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


class Edge:
    """`branchlive edge` in a subprocess, configured through its environment."""

    def __init__(self, tmp: Path, name: str, hub_url: str, code: str, reader_port: str | None = None) -> None:
        self.port = free_port()
        self.log = tmp / f"{name}.log"
        env = {**os.environ, "BRANCHLIVE_EDGE_HUB_URL": hub_url, "BRANCHLIVE_EDGE_DATA_DIR": str(tmp / name),
               "BRANCHLIVE_EDGE_ENROLMENT_CODE": code, "BRANCHLIVE_EDGE_KIOSK_PORT": str(self.port),
               "BRANCHLIVE_EDGE_ADMIN_PIN": PIN}
        if reader_port:
            env["BRANCHLIVE_EDGE_READER_PORT"] = reader_port
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "branchlive.cli", "edge", "--log-level", "INFO"],
                                         env=env, stdout=log, stderr=subprocess.STDOUT)
        self.client = httpx.Client(base_url=self.url, timeout=30)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def state(self) -> dict[str, Any]:
        if self.proc.poll() is not None:
            raise RuntimeError(f"the edge agent exited: {self.log.read_text(errors='replace')[-3000:]}")
        try:
            r = self.client.get("/api/state")
        except httpx.HTTPError:
            return {}
        return r.json() if r.status_code == 200 else {}  # type: ignore[no-any-return]

    def admin(self) -> None:
        r = self.client.post("/api/admin/login", json={"pin": PIN})
        assert r.status_code == 200, r.text

    def stop(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def chromium() -> Iterator[Any]:
    if not Path(bench.CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(**bench.launch_args(""))
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Any]:
    env = {}
    pg = os.environ.get("BRANCHLIVE_TEST_PG_URL")
    if pg:
        from tests.conftest import reset_postgres

        reset_postgres(pg)
        env["BRANCHLIVE_DATABASE_URL"] = pg
    process = bench.HubProcess(tmp_path / "hub", env=env).start()
    try:
        yield process
    finally:
        process.stop()


def expected_text(present: int, expected: int, leave: int, q_present: int, required: int, met: bool) -> str:
    return (f"实到 {present} / 应到 {expected} · 请假 {leave} · 法定人数 {q_present}/{required} "
            f"{'已达到' if met else '未达到'}")


def kiosk_text(page: Any) -> str:
    """The kiosk's numbers as one line, in the wall's words."""
    return str(page.evaluate("""() => `实到 ${document.getElementById('att-present').textContent} / 应到 `
        + `${document.getElementById('att-expected').textContent} · 请假 ${document.getElementById('att-leave').textContent}`
        + ` · ${document.getElementById('att-quorum').textContent}`"""))


def test_scheduled_meeting_shared_by_two_devices_same_numbers_everywhere(tmp_path: Path, hub: Any, chromium: Any) -> None:
    browser = chromium
    admin = bench.admin_client(hub.url)
    emulator = FingerprintEmulator("R307", library_path=tmp_path / "library.json", link=tmp_path / "fp0")
    emulator.start()
    edges: list[Edge] = []
    pages: list[Any] = []
    loop = bench.EdgeLoop()
    try:
        # -- the county: one branch, seven members, fingers backed up, a meeting scheduled --------
        root = next(u for u in admin.get("/api/v1/org-units").json() if u["kind"] == "county")["id"]
        town = admin.post("/api/v1/org-units", json={"name": "城关镇", "kind": "township", "parent_id": root}).json()["id"]
        branch = admin.post("/api/v1/org-units", json={"name": "东风村党支部", "kind": "branch", "parent_id": town}).json()["id"]
        ids: dict[str, int] = {}
        for name, no, status, excused, _ in MEMBERS:
            r = admin.post(f"/api/v1/branches/{branch}/members",
                           json={"name": name, "member_no": no, "status": status, "excused": excused,
                                 "excused_reason": "长期卧床" if excused else None})
            assert r.status_code == 201, r.text
            ids[name] = r.json()["id"]

        def code(name: str) -> str:
            r = admin.post(f"/api/v1/branches/{branch}/devices", json={"name": name})
            assert r.status_code == 201, r.text
            return str(r.json()["enrolment_code"])

        token = httpx.post(f"{hub.url}/api/v1/devices/enrol", json={"code": code("录入机")}, timeout=30).json()["token"]
        for slot, (name, _, _, _, finger) in enumerate(MEMBERS):
            if finger:
                r = httpx.put(f"{hub.url}/api/v1/fingerprints/templates", timeout=30,
                              headers={"Authorization": f"Bearer {token}"},
                              json={"member_id": ids[name], "slot": slot,
                                    "template_b64": base64.b64encode(template_of(f"finger-{name}")).decode()})
                assert r.status_code < 300, r.text
        scheduled_start = datetime.now(UTC) - timedelta(minutes=30)  # late marks count from here
        r = admin.post(f"/api/v1/branches/{branch}/meetings", json={
            "meeting_type": "general_meeting", "topic": "第三季度党员大会", "scheduled_start": scheduled_start.isoformat()})
        assert r.status_code == 201, r.text
        scheduled_id = r.json()["id"]

        # -- two real edge agents of the branch; B reaches the hub through a link we can cut ------
        link = SilentLink("127.0.0.1", hub.port)
        loop.run(link.start())
        kiosk_a = Edge(tmp_path, "edge-a", hub.url, code("大厅一体机"), reader_port=str(emulator.link))
        edges.append(kiosk_a)
        kiosk_b = Edge(tmp_path, "edge-b", link.url, code("备用一体机"))
        edges.append(kiosk_b)
        for edge in edges:
            until(lambda e=edge: e.state().get("uplink", {}).get("online"), 90, "the agent online")
            # online is not yet synced: the roster comes after the welcome, and B is cut next
            until(lambda e=edge: e.state().get("roster_total") == len(MEMBERS), 90, "the roster on the kiosk")
        until(lambda: len(emulator.library()) == 4, 90, "the fingers restored into the module")
        loop.loop.call_soon_threadsafe(link.cut)  # B's village line goes quiet
        until(lambda: kiosk_b.state().get("uplink", {}).get("online") is False, 30, "kiosk B offline")

        # -- the scheduled meeting on kiosk A, started there from the schedule ---------------------
        page_a = browser.new_page(locale="zh-CN")
        pages.append(page_a)
        page_a.goto(kiosk_a.url + "/")
        page_a.wait_for_selector(f'#schedule li[data-id="{scheduled_id}"]', state="visible", timeout=60_000)
        assert "第三季度党员大会" in page_a.inner_text("#schedule")
        page_a.click("#admin-open")
        page_a.fill("#pin", PIN)
        page_a.click("#pin-form button[type=submit]")
        page_a.click(f'#schedule-admin li[data-id="{scheduled_id}"] button.start-scheduled', timeout=30_000)
        page_a.wait_for_selector("#meeting:has-text('第三季度党员大会')", timeout=30_000)
        until(lambda: (kiosk_a.state().get("meeting") or {}).get("id") == scheduled_id, 30,
              "kiosk A on the scheduled meeting")

        def press(name: str) -> None:
            seen = emulator.commands_seen
            emulator.place_finger(f"finger-{name}")
            try:
                page_a.wait_for_function(
                    "n => document.getElementById('prompt').dataset.code === 'checked_in' "
                    "&& document.getElementById('prompt').textContent.includes(n)", arg=name, timeout=60_000)
            finally:
                emulator.lift_finger()
            # the reader sees the empty glass (a few more polls) before the next member steps up
            until(lambda: emulator.commands_seen > seen + 5 and emulator.finger is None, 30, "the glass seen empty")

        press("甲")

        # -- kiosk B, offline, starts a meeting of its own and checks 丁 in by hand ----------------
        kiosk_b.admin()
        r = kiosk_b.client.post("/api/admin/meeting/start", json={"meeting_type": "committee", "topic": "B自己开的会"})
        assert r.status_code == 201, r.text
        own_id = r.json()["meeting_id"]
        assert own_id != scheduled_id
        r = kiosk_b.client.post("/api/admin/checkin", json={"member_id": str(ids["丁"]), "reason": "手指受伤"})
        assert r.status_code == 201, r.text
        loop.loop.call_soon_threadsafe(link.restore)  # the line is back: B joins the branch's meeting
        until(lambda: (kiosk_b.state().get("meeting") or {}).get("id") == scheduled_id, 60,
              "kiosk B joined the branch's open meeting")
        meeting = admin.get(f"/api/v1/meetings/{scheduled_id}").json()
        assert meeting["status"] == "live"  # not silently ended by the second device

        def attendance() -> dict[int, dict[str, Any]]:
            return {a["member_id"]: a for a in admin.get(f"/api/v1/meetings/{scheduled_id}/attendance").json()}

        until(lambda: {ids["甲"], ids["丁"]} <= set(attendance()), 60, "甲 and 丁 in the one meeting")
        assert attendance()[ids["甲"]]["late"] is True  # 30 min after the scheduled start
        press("己")

        # -- 请假 in kiosk A's admin mode ----------------------------------------------------------
        page_a.wait_for_selector("#leave-form", state="visible", timeout=30_000)
        page_a.wait_for_selector(f'#leave-member option[value="{ids["戊"]}"]', state="attached", timeout=30_000)
        page_a.select_option("#leave-member", str(ids["戊"]))
        page_a.fill("#leave-reason", "外出务工")
        page_a.click("#leave-submit")
        until(lambda: any(lv["member_id"] == ids["戊"] for lv in
                          admin.get(f"/api/v1/meetings/{scheduled_id}/leave-requests").json()), 60, "the leave on the hub")

        # -- three surfaces, same numbers: 甲 己 丁 present (己 probationary: not in the quorum) --------
        wall = signed_in_page(browser, hub.url)
        pages.append(wall.context)
        branch_view = wall.context.new_page()
        branch_view.goto(hub.url + f"/#/branch/{branch}")
        page_b = browser.new_page(locale="zh-CN")
        pages.append(page_b)
        page_b.goto(kiosk_b.url + "/")

        def same_everywhere(text: str) -> None:
            tile = f'.tile[data-id="{branch}"] .ci'
            wall.wait_for_function("([sel, t]) => (document.querySelector(sel)?.textContent || '').startsWith(t)",
                                   arg=[tile, text], timeout=60_000)
            branch_view.wait_for_function("t => (document.querySelector('.b-ci')?.textContent || '') === t",
                                          arg=text, timeout=60_000)
            for page in (page_a, page_b):
                until(lambda p=page: kiosk_text(p) == text, 60, f"the kiosk showing {text}")

        same_everywhere(expected_text(3, 6, 1, 2, 3, False))
        branch_view.wait_for_selector(f'.member.on-leave[data-member="{ids["戊"]}"]', timeout=30_000)
        press("乙")
        same_everywhere(expected_text(4, 6, 1, 3, 3, True))
        assert re.search(r"✓$", wall.inner_text(f'.tile[data-id="{branch}"] .ci'))
        loop.run(link.stop())
    finally:
        for page in pages:
            page.close()
        for edge in edges:
            edge.stop()
        emulator.stop()
        admin.close()
        loop.close()
