"""The wall notices when the hub goes away, says so, and comes back by itself."""

from __future__ import annotations

import re
import shutil
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.dashboard.helpers import bench, signed_in_page

pytestmark = pytest.mark.browser
WAIT = 60_000


def test_wall_reconnects_after_the_hub_restarts(tmp_path: Any, browser: Any) -> None:
    hub = bench.HubProcess(tmp_path / "hub").start()
    try:
        client = bench.admin_client(hub.url)
        try:
            branches = bench.seed_county(client, {"城关镇": ["东风村党支部", "红星村党支部"]}, members_per_branch=3)
        finally:
            client.close()
        page = signed_in_page(browser, hub.url)
        try:
            expect(page.locator(".tile")).to_have_count(2, timeout=WAIT)
            expect(page.locator("#feed-banner")).to_be_hidden()
            hub.stop()
            banner = page.locator("#feed-banner")
            expect(banner).to_be_visible(timeout=WAIT)
            expect(banner).to_contain_text("实时连接已断开")
            expect(page.locator("body")).to_have_class(re.compile(r"\bfeed-down\b"))
            # Pictures are no longer trusted while the link is down.
            expect(page.locator(".tile.stale")).to_have_count(2, timeout=WAIT)
            hub.start()
            expect(banner).to_be_hidden(timeout=WAIT)
            expect(page.locator("body")).not_to_have_class(re.compile(r"\bfeed-down\b"))
            expect(page.locator(".tile")).to_have_count(2)
            # And the new socket carries news again.
            edge = bench.EdgeLoop()
            try:
                sim = edge.run(bench.EdgeSim(hub.url, branches[0].token).connect())
                edge.run(sim.heartbeat())
                expect(page.locator(f'.tile[data-id="{branches[0].id}"]')).to_have_attribute("data-state", "idle", timeout=WAIT)
                edge.run(sim.close())
            finally:
                edge.close()
        finally:
            page.context.close()
    finally:
        hub.stop()
        shutil.rmtree(tmp_path / "hub", ignore_errors=True)
