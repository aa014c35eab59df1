"""Take the dashboard's screenshots for docs/screenshots/ (run by hand:
`.venv/bin/python -m tests.dashboard.screenshots`). A media-enabled hub, a
county of 48 branches with halls online, meetings, check-ins, thumbnails,
and one hall publishing the fake camera over WHIP."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.dashboard.helpers import ROOT, bench, submit_login
from tests.dashboard.test_media import MEDIA_ENV, PUBLISH

OUT = ROOT / "docs" / "screenshots"


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="shots-"))
    hub = bench.HubProcess(tmp / "hub", media=True, env=MEDIA_ENV).start()
    edge = bench.EdgeLoop()
    try:
        client = bench.admin_client(hub.url)
        try:
            branches = bench.seed_county(client, bench.county_plan(48, 5), members_per_branch=8)
        finally:
            client.close()
        stop = asyncio.Event()
        sims = [edge.run(bench.EdgeSim(hub.url, b.token).connect()) for b in branches[:44]]
        meetings = {}
        for i, (sim, b) in enumerate(zip(sims, branches, strict=False)):
            edge.run(sim.heartbeat())
            edge.run(sim.thumbnail(bench.make_jpeg(f"hall {b.id}", i)))
            if i % 3 != 2:
                meetings[b.id] = edge.run(sim.start_meeting("theme_day" if i % 2 else "general_meeting", "学习贯彻党的二十届三中全会精神"))
                for m in b.members[: (i * 5) % 8 + 1]:
                    edge.run(sim.checkin(meetings[b.id], m, method="staff" if m % 7 == 0 else "fingerprint",
                                         reason="指纹无法识别，工作人员核实" if m % 7 == 0 else None))
            if i == 4:
                edge.run(sim.headcount(meetings[b.id], 1))
        star = branches[0]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(**bench.launch_args(""))
            pub = browser.new_page()
            pub.goto(hub.url + "/ui/css/app.css")
            pub.evaluate(PUBLISH, {"branch": star.id, "token": star.token})
            ctx = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN", bypass_csp=True)
            page = ctx.new_page()
            page.goto(hub.url + "/")
            page.screenshot(path=str(OUT / "login.png"))
            page.fill("#login-user", "admin")
            page.fill("#login-pass", bench.ADMIN_PASSWORD)
            submit_login(page)
            page.wait_for_selector(".tile")
            page.wait_for_function(f"document.querySelector('.tile[data-id=\"{star.id}\"]').dataset.state === 'live'", timeout=60_000)
            page.click('#wall-mode button[data-mode="grouped"]')
            page.wait_for_timeout(2500)
            page.screenshot(path=str(OUT / "wall-1920x1080.png"))
            for name, route in (("admin-halls", "/admin/devices"), ("admin-members", "/admin/members"),
                                ("supervision-compliance", "/supervision/compliance"),
                                ("supervision-reports", "/supervision/reports")):
                page.goto(f"{hub.url}/ui/#{route}")
                page.wait_for_load_state("networkidle")
                page.wait_for_timeout(2000)
                page.screenshot(path=str(OUT / f"{name}.png"))
            page.goto(f"{hub.url}/ui/#/branch/{star.id}")
            page.wait_for_function("document.getElementById('live-video').videoWidth > 0", timeout=60_000)
            edge.run(sims[0].checkin(meetings[star.id], star.members[-1]))
            page.wait_for_timeout(1500)
            page.screenshot(path=str(OUT / "branch-view.png"))
            page.evaluate("localStorage.setItem('bl.rotation', JSON.stringify({grid: 3, seconds: 30}))")
            page.goto(f"{hub.url}/ui/#/rotation")
            page.wait_for_timeout(4000)
            page.screenshot(path=str(OUT / "rotation-3x3.png"))
            time.sleep(8)
            edge.run(sims[0].end_meeting(meetings[star.id]))
            time.sleep(3)
            page.goto(f"{hub.url}/ui/#/playback/{meetings[star.id]}")
            page.wait_for_function("() => { const v = document.getElementById('pb-video'); return v && v.readyState >= 2; }", timeout=60_000)
            page.locator("#pb-checkins button").nth(1).click()
            page.wait_for_timeout(1500)
            page.screenshot(path=str(OUT / "playback.png"))
            big = browser.new_context(viewport={"width": 3840, "height": 2160}, locale="zh-CN", bypass_csp=True)
            p4 = big.new_page()
            p4.request.post(hub.url + "/api/v1/auth/login", data={"username": "admin", "password": bench.ADMIN_PASSWORD})
            p4.goto(hub.url + "/ui/#/wall")
            p4.wait_for_selector(".tile")
            p4.click('#wall-mode button[data-mode="dense"]')
            p4.wait_for_timeout(2500)
            p4.screenshot(path=str(OUT / "wall-dense-3840x2160.png"))
            browser.close()
        stop.set()
    finally:
        edge.close()
        hub.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
