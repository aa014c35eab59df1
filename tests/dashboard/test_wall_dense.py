"""The wall at county scale in real Chromium against a hub subprocess: the
dense layout (全览) holds every hall on the screen, the automatic choice
follows the viewport, group headers count exactly the tiles under them
while halls change, the legend explains colours and marks, alerting halls
come first, and rotation and a hall's live view are one click away."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.dashboard.helpers import County, bench, signed_in_page
from tests.dashboard.latin import assert_no_english

pytestmark = pytest.mark.browser
WAIT = 30_000
TOWNSHIPS = {
    "城关镇": ["东街村党支部", "西街村党支部", "南关村党支部", "北关村党支部", "河滩村党支部", "果园村党支部"],
    "青山镇": ["青山村党支部", "石门村党支部", "松林村党支部", "竹园村党支部", "龙潭村党支部", "杨家村党支部"],
    "红旗乡": ["红旗村党支部", "新华村党支部", "前进村党支部", "胜利村党支部", "光明村党支部", "团结村党支部"],
}


@pytest.fixture(scope="module")
def county18(tmp_path_factory: pytest.TempPathFactory, chromium_available: None) -> Iterator[County]:
    """18 halls in three townships: meetings open (no media plane, so 视频中断
    and an alert), halls online without a meeting, halls never connected."""
    tmp = tmp_path_factory.mktemp("county18")
    hub = bench.HubProcess(tmp / "hub").start()
    county = None
    try:
        client = bench.admin_client(hub.url)
        try:
            branches = bench.seed_county(client, TOWNSHIPS, members_per_branch=4, workers=3)
        finally:
            client.close()
        county = County(hub, branches)
        plan = {"东街村党支部": "meeting", "西街村党支部": "meeting", "南关村党支部": "online", "北关村党支部": "online",
                "青山村党支部": "meeting", "石门村党支部": "online", "松林村党支部": "online", "竹园村党支部": "online",
                "红旗村党支部": "online"}
        for name, what in plan.items():
            sim = county.hall(name)
            county.run(sim.heartbeat())
            if what == "meeting":
                county.run(sim.start_meeting("general_meeting", "学习党章"))
        yield county
    finally:
        if county is not None:
            county.close()
        hub.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def headers_agree(page: Any) -> dict[str, Any]:
    heads = page.evaluate(bench.HEADER_COUNTS_JS)
    assert heads["bad"] == [], heads["bad"]
    return heads


def alerting_first(page: Any) -> None:
    orders = page.evaluate("""() => [...document.querySelectorAll('.wall section.group')].map(
        g => [...g.querySelectorAll('.tiles > .tile')].map(t => t.classList.contains('alerting')))""")
    assert orders and all(o == sorted(o, reverse=True) for o in orders), orders


def test_dense_and_grouped_wall_for_a_county(county18: County, browser: Any) -> None:
    total = sum(len(v) for v in TOWNSHIPS.values())
    page = signed_in_page(browser, county18.url, viewport=(1920, 1200))
    wall = page.locator("#view-wall")
    try:
        # A large screen with few halls: "auto" keeps the grouped layout (they all fit).
        expect(page.locator(".tile")).to_have_count(total, timeout=WAIT)
        expect(wall).to_have_attribute("data-mode-pref", "auto")
        expect(wall).to_have_attribute("data-mode", "grouped")
        # Headers: each state counted as its tiles show it; open meetings
        # without video are 视频中断, never counted as 直播中.
        town = page.locator('section.group[data-township="城关镇"] .group-head')
        expect(town.locator('.hc[data-state="stalled"]')).to_have_attribute("data-n", "2", timeout=WAIT)
        expect(town).to_contain_text("视频中断 2")
        expect(town.locator('.hc[data-state="live"]')).to_have_count(0)
        expect(town.locator(".hc-total")).to_have_text("共 6")
        headers_agree(page)
        alerting_first(page)
        # The legend explains the colours, the numbers and the marks.
        legend = page.locator("#wall-legend")
        expect(legend).to_be_visible()
        for text in ("直播中", "视频中断", "待开会", "空闲", "离线", "实到 / 应到", "已达法定人数", "未达法定人数", "免于参加", "有告警"):
            expect(legend).to_contain_text(text)
        for mark in ("✓", "✗", "*", "⚠"):
            expect(legend.locator("b", has_text=mark)).to_have_count(1)
        page.click("#wall-legend-btn")
        expect(legend).to_be_hidden()
        page.click("#wall-legend-btn")
        expect(legend).to_be_visible()
        assert_no_english(page)

        # A smaller screen cannot hold the grouped tiles: "auto" goes dense,
        # and every hall is on the screen.
        page.set_viewport_size({"width": 1280, "height": 720})
        expect(wall).to_have_attribute("data-mode", "dense", timeout=WAIT)
        placed = page.evaluate(bench.TILES_IN_VIEWPORT_JS)
        assert (placed["tiles"], placed["inside"]) == (total, total), placed
        headers_agree(page)
        alerting_first(page)
        assert_no_english(page)

        # One click each way; the choice is kept.
        page.click('#wall-mode button[data-mode="grouped"]')
        expect(wall).to_have_attribute("data-mode", "grouped", timeout=WAIT)
        expect(wall).to_have_attribute("data-mode-pref", "grouped")
        headers_agree(page)
        page.click('#wall-mode button[data-mode="dense"]')
        expect(wall).to_have_attribute("data-mode", "dense", timeout=WAIT)
        page.reload()
        expect(wall).to_have_attribute("data-mode", "dense", timeout=WAIT)
        expect(page.locator(".tile")).to_have_count(total, timeout=WAIT)

        # A hall opens a meeting while the operator watches: its header
        # count moves with its tile, and the tile (now alerting) moves ahead
        # of the quiet ones in its township.
        hall = county18.branch("南关村党支部")
        county18.run(county18.hall(hall.name).start_meeting("general_meeting", "主题党日"))
        expect(town.locator('.hc[data-state="stalled"]')).to_have_attribute("data-n", "3", timeout=WAIT)
        expect(page.locator(f'.tile[data-id="{hall.id}"]')).to_have_class(re.compile(r"\balerting\b"), timeout=WAIT)
        page.wait_for_function(f"""() => {{
            const tiles = [...document.querySelectorAll('section.group[data-township="城关镇"] .tiles > .tile')];
            const i = tiles.findIndex(t => t.dataset.id === '{hall.id}');
            return i >= 0 && tiles.slice(0, i).every(t => t.classList.contains('alerting'));
        }}""", timeout=WAIT)
        headers_agree(page)
        alerting_first(page)

        # Rotation and a hall's live view: one click from the dense wall.
        page.click("#wall-rotation")
        expect(page.locator("#view-rotation")).to_be_visible(timeout=WAIT)
        assert_no_english(page)
        page.keyboard.press("Escape")
        expect(wall).to_be_visible(timeout=WAIT)
        page.locator(f'.tile[data-id="{hall.id}"]').click()
        expect(page.locator("#view-branch .b-name")).to_have_text(hall.name, timeout=WAIT)
    finally:
        page.context.close()
