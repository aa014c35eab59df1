"""Rotation (轮巡) in real Chromium: pages of live halls cycle, alerting first."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.dashboard.helpers import bench, signed_in_page
from tests.dashboard.latin import assert_no_english

pytestmark = pytest.mark.browser
WAIT = 30_000


def test_rotation_cycles_through_live_halls(county: Any, browser: Any) -> None:
    # Every hall meeting: five live halls make two pages of 2x2.
    for i, b in enumerate(county.branches):
        sim = county.hall(b.name)
        county.run(sim.start_meeting("theme_day", f"主题党日 {i + 1}"))
        county.run(sim.thumbnail(bench.make_jpeg(b.name, i)))
    page = signed_in_page(browser, county.url)
    try:
        page.evaluate("localStorage.setItem('bl.rotation', JSON.stringify({grid: 2, seconds: 3}))")
        page.keyboard.press("r")
        expect(page.locator("#view-rotation")).to_be_visible(timeout=WAIT)
        label = page.locator("#rot-page")
        expect(label).to_have_attribute("data-pages", "2", timeout=WAIT)
        cells = page.locator("#rot-cells .cell")
        seen: set[str] = set()
        for want in ("2", "1", "2"):
            expect(label).to_have_attribute("data-page", want, timeout=WAIT)
            expect(cells.first).to_be_visible()
            seen.update(cells.evaluate_all("cs => cs.map(c => c.dataset.branch)"))
        assert seen == {str(b.id) for b in county.branches}
        # The media plane is off: each cell falls back to the hall's thumbnail.
        expect(cells.first).to_have_class(re.compile(r"\bthumb-mode\b"), timeout=WAIT)
        expect(cells.first.locator("img")).to_have_attribute("src", re.compile(r"thumbnail\.jpg\?t="))
        assert_no_english(page)
        # Pausing holds the page; the control says so.
        page.keyboard.press("p")
        expect(page.locator("#rot-pause")).to_have_class(re.compile(r"\bon\b"))
        expect(page.locator("#view-rotation")).to_have_class(re.compile(r"\bpaused\b"))
        held = label.get_attribute("data-page")
        page.keyboard.press("ArrowRight")
        expect(label).not_to_have_attribute("data-page", held or "", timeout=WAIT)
        page.keyboard.press("p")
        expect(page.locator("#rot-pause")).not_to_have_class(re.compile(r"\bon\b"))
        # 3x3 fits all five on one page.
        page.select_option("#rot-grid", "3")
        expect(label).to_have_attribute("data-pages", "1", timeout=WAIT)
        expect(cells).to_have_count(len(county.branches))
        # A cell opens that hall's branch view.
        first = cells.first.get_attribute("data-branch")
        cells.first.click()
        expect(page.locator("#view-branch")).to_be_visible(timeout=WAIT)
        assert page.url.endswith(f"#/branch/{first}")
    finally:
        page.context.close()


def test_alerting_halls_come_first(county: Any, browser: Any) -> None:
    page = signed_in_page(browser, county.url)
    try:
        page.evaluate("localStorage.setItem('bl.rotation', JSON.stringify({grid: 2, seconds: 600}))")
        page.goto(county.url + "/ui/#/rotation")
        cells = page.locator("#rot-cells .cell")
        expect(cells.first).to_be_visible(timeout=WAIT)
        order = page.evaluate("""() => {
            const tiles = window.branchlive.feed.tiles;
            return [...document.querySelectorAll('#rot-cells .cell')].map(c => tiles.get(Number(c.dataset.branch)).alerts.length > 0);
        }""")
        # No alerting hall after a quiet one.
        assert order == sorted(order, reverse=True)
    finally:
        page.context.close()
