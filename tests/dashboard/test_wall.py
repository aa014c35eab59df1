"""The wall in real Chromium against a hub subprocess: tiles, live check-ins,
thumbnails and staleness, scope, branch view, language, keyboard."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.dashboard.helpers import OPERATOR_PASSWORD, TOWNSHIPS, bench, signed_in_page
from tests.dashboard.latin import assert_no_english

pytestmark = pytest.mark.browser
WAIT = 30_000


def tile(page: Any, branch_id: int) -> Any:
    return page.locator(f'.tile[data-id="{branch_id}"]')


@pytest.fixture(scope="module")
def meetings(county: Any) -> dict[str, str]:
    """A meeting open at 东风村 with its hall online."""
    sim = county.hall("东风村党支部")
    return {"东风村党支部": county.run(sim.start_meeting("general_meeting", "学习党章"))}


def test_a_tile_for_every_branch(county: Any, browser: Any) -> None:
    page = signed_in_page(browser, county.url)
    try:
        total = sum(len(v) for v in TOWNSHIPS.values())
        expect(page.locator(".tile")).to_have_count(total, timeout=WAIT)
        for b in county.branches:
            expect(tile(page, b.id).locator(".name")).to_have_text(b.name)
            expect(tile(page, b.id).locator(".town")).to_have_text(b.township)
        # Halls never connected: offline, in Chinese, with the alert.
        offline = county.branch("石门村党支部")
        expect(tile(page, offline.id).locator(".badge")).to_have_text("离线")
        expect(tile(page, offline.id).locator(".alert")).to_contain_text("设备离线")
        expect(page.locator(".group-head")).to_have_count(len(TOWNSHIPS))
        assert_no_english(page)
        assert page.evaluate("document.documentElement.lang") == "zh-CN"
    finally:
        page.context.close()


def test_checkin_at_a_hall_appears_on_the_wall_and_in_the_branch_view(county: Any, browser: Any, meetings: dict[str, str]) -> None:
    b = county.branch("东风村党支部")
    sim = county.hall(b.name)
    mid = meetings[b.name]
    page = signed_in_page(browser, county.url)
    try:
        t = tile(page, b.id)
        expect(t).to_have_attribute("data-state", re.compile("live|stalled"), timeout=WAIT)
        expect(t.locator(".meet")).to_contain_text("支部党员大会")
        expect(t.locator(".meet")).to_contain_text("学习党章")
        before = int(re.search(r"实到 (\d+) /", t.locator(".ci").inner_text()).group(1))
        ack = county.run(sim.checkin(mid, b.members[0]))
        assert ack["ok"] or ack["error"]["code"] == "already_checked_in", ack
        expect(t.locator(".ci")).to_contain_text(f"实到 {max(before, 1)} / 应到 6", timeout=WAIT)
        # Two clicks from the wall to the hall: the tile opens the branch view.
        t.click()
        expect(page.locator("#view-branch .b-name")).to_have_text(b.name, timeout=WAIT)
        att = page.locator("#att-list")
        expect(att.locator("li[data-member]")).to_have_count(max(before, 1), timeout=WAIT)
        # A staff-confirmed check-in while the operator watches shows up live.
        ack = county.run(sim.checkin(mid, b.members[1], method="staff", reason="指纹磨损，工作人员核实身份"))
        assert ack["ok"], ack
        row = att.locator(f'li[data-member="{b.members[1]}"]')
        expect(row).to_be_visible(timeout=WAIT)
        expect(row).to_contain_text("工作人员确认")
        expect(page.locator("#att-head")).to_contain_text(f"实到 {max(before, 1) + 1} / 应到 6")
        # The media plane is off in this hub: a clear message, not a black box.
        expect(page.locator("#media-msg")).to_contain_text("实时视频不可用", timeout=WAIT)
        assert_no_english(page)
        page.keyboard.press("Escape")
        expect(page.locator("#view-wall")).to_be_visible()
        expect(t.locator(".ci")).to_contain_text(f"实到 {max(before, 1) + 1} / 应到 6", timeout=WAIT)
    finally:
        page.context.close()


def test_thumbnail_refreshes_and_an_old_picture_is_marked(county: Any, browser: Any) -> None:
    b = county.branch("红星村党支部")
    sim = county.hall(b.name)
    page = signed_in_page(browser, county.url)
    try:
        t = tile(page, b.id)
        county.run(sim.thumbnail(bench.make_jpeg("fresh", 1)))
        expect(t.locator("img")).to_have_attribute("src", re.compile(rf"/api/v1/branches/{b.id}/thumbnail.jpg\?t="), timeout=WAIT)
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=t.locator("img").element_handle(), timeout=WAIT)
        expect(t).not_to_have_class(re.compile(r"\bstale\b"), timeout=WAIT)
        first = t.locator("img").get_attribute("src")
        # A picture taken a minute ago (three periods and more): never shown as live.
        import asyncio
        import json
        import struct
        import uuid

        async def old_picture() -> None:
            header = json.dumps({"type": "thumbnail", "id": str(uuid.uuid4()), "ts": time.time(), "taken_at": time.time() - 60}).encode()
            await sim.ws.send(struct.pack(">H", len(header)) + header + bench.make_jpeg("old", 2))
            await asyncio.sleep(0)

        county.run(old_picture())
        expect(t).to_have_class(re.compile(r"\bstale\b"), timeout=WAIT)
        expect(t.locator(".stale-label")).to_contain_text("画面已停")
        assert t.locator("img").get_attribute("src") != first
        county.run(sim.thumbnail(bench.make_jpeg("fresh again", 3)))
        expect(t).not_to_have_class(re.compile(r"\bstale\b"), timeout=WAIT)
    finally:
        page.context.close()


def test_township_operator_sees_only_their_township(county: Any, browser: Any) -> None:
    page = signed_in_page(browser, county.url, "chengguan", OPERATOR_PASSWORD)
    try:
        mine = [b for b in county.branches if b.township == "城关镇"]
        expect(page.locator(".tile")).to_have_count(len(mine), timeout=WAIT)
        text = page.locator("#view-wall").inner_text()
        for b in county.branches:
            if b.township != "城关镇":
                assert b.name not in text
                expect(tile(page, b.id)).to_have_count(0)
        assert "青山镇" not in page.locator("#wall-town").inner_text()
        # Changes at another township's hall never reach this wall.
        other = county.branch("青山村党支部")
        county.run(county.hall(other.name).thumbnail(bench.make_jpeg("other", 4)))
        mine_hall = county.branch("向阳社区党支部")
        county.run(county.hall(mine_hall.name).heartbeat())
        expect(tile(page, mine_hall.id)).not_to_have_attribute("data-state", "offline", timeout=WAIT)
        expect(tile(page, other.id)).to_have_count(0)
        assert page.evaluate(f"window.branchlive.feed.tiles.has({other.id})") is False
    finally:
        page.context.close()


def test_filter_search_and_keyboard(county: Any, browser: Any) -> None:
    page = signed_in_page(browser, county.url)
    try:
        total = len(county.branches)
        expect(page.locator(".tile")).to_have_count(total, timeout=WAIT)
        page.keyboard.press("/")
        expect(page.locator("#wall-search")).to_be_focused()
        page.keyboard.type("石门")
        expect(page.locator(".tile")).to_have_count(1, timeout=WAIT)
        expect(page.locator(".tile .name")).to_have_text("石门村党支部")
        page.keyboard.press("Escape")          # leaves the search box
        page.fill("#wall-search", "")
        page.select_option("#wall-town", "青山镇")
        expect(page.locator(".tile")).to_have_count(len(TOWNSHIPS["青山镇"]), timeout=WAIT)
        page.select_option("#wall-town", "")
        page.locator("#view-wall").click(position={"x": 5, "y": 200})
        page.keyboard.press("?")
        expect(page.locator("#help")).to_be_visible()
        page.keyboard.press("Escape")
        expect(page.locator("#help")).to_be_hidden()
        page.keyboard.press("r")
        expect(page.locator("#view-rotation")).to_be_visible(timeout=WAIT)
        page.keyboard.press("Escape")
        expect(page.locator("#view-wall")).to_be_visible(timeout=WAIT)
    finally:
        page.context.close()


def test_english_switch_persists(county: Any, browser: Any) -> None:
    page = signed_in_page(browser, county.url)
    try:
        expect(page.locator("nav a[data-view=wall]")).to_have_text("大屏")
        page.click("#lang")
        expect(page.locator("nav a[data-view=wall]")).to_have_text("Wall")
        expect(page.locator(".tile .badge").first).to_have_text(re.compile("Live|Video down|Scheduled|Idle|Offline"))
        page.reload()
        expect(page.locator("nav a[data-view=wall]")).to_have_text("Wall", timeout=WAIT)
        assert page.evaluate("localStorage.getItem('bl.lang')") == "en"
        page.click("#lang")
        expect(page.locator("nav a[data-view=wall]")).to_have_text("大屏")
    finally:
        page.context.close()


def test_inspection_note_reports_a_missing_api_nicely(county: Any, browser: Any) -> None:
    b = county.branch("东风村党支部")
    page = signed_in_page(browser, county.url)
    try:
        page.goto(f"{county.url}/ui/#/branch/{b.id}")
        form = page.locator("#note-form")
        form.locator("button[type=submit]").click()
        expect(page.locator("#note-msg")).to_contain_text("请填写", timeout=WAIT)
        form.locator("[name=problem]").fill("三会一课记录本未按时填写")
        form.locator("[name=measures]").fill("一周内补齐记录，支部书记签字")
        form.locator("[name=responsible]").fill("刘书记")
        form.locator("button[type=submit]").click()
        # Until the supervision API exists the hub answers 404: say so, keep the text.
        expect(page.locator("#note-msg")).to_have_text(re.compile("整改事项接口尚未上线|已提交整改事项"), timeout=WAIT)
        if "尚未上线" in page.locator("#note-msg").inner_text():
            expect(form.locator("[name=problem]")).to_have_value("三会一课记录本未按时填写")
        assert_no_english(page)
    finally:
        page.context.close()


def test_a_branch_deactivated_leaves_the_open_wall(county: Any, browser: Any) -> None:
    b = county.branch("石门村党支部")
    page = signed_in_page(browser, county.url)
    admin = bench.admin_client(county.url)
    try:
        total = sum(len(v) for v in TOWNSHIPS.values())
        expect(page.locator(".tile")).to_have_count(total, timeout=WAIT)
        group = page.locator(f'section.group[data-township="{b.township}"]')
        in_group = group.locator(".tiles > .tile").count()
        admin.patch(f"/api/v1/org-units/{b.id}", json={"active": False}).raise_for_status()
        expect(tile(page, b.id)).to_have_count(0, timeout=WAIT)
        expect(page.locator(".tile")).to_have_count(total - 1)
        expect(group.locator(".hc-total")).to_have_attribute("data-n", str(in_group - 1), timeout=WAIT)
        admin.patch(f"/api/v1/org-units/{b.id}", json={"active": True}).raise_for_status()
        expect(tile(page, b.id).locator(".name")).to_have_text(b.name, timeout=WAIT)
        expect(page.locator(".tile")).to_have_count(total)
    finally:
        admin.patch(f"/api/v1/org-units/{b.id}", json={"active": True})
        admin.close()
        page.context.close()


def test_a_branch_page_opened_before_the_wall_snapshot_names_meeting_types_in_chinese(
        county: Any, browser: Any, meetings: dict[str, str]) -> None:
    """A link to #/branch/N opened directly: the page lists the branch's
    meetings before (here: without) the wall's snapshot, which used to bring
    the meeting type names; raw codes such as general_meeting showed."""
    b = county.branch("东风村党支部")
    assert meetings[b.name]
    page = signed_in_page(browser, county.url)
    try:
        page.route_web_socket("**/ws/wall", lambda ws: None)  # the wall socket never answers now
        page.goto(f"{county.url}/ui/#/branch/{b.id}")
        page.reload()
        recent = page.locator("#recent-meetings li")
        expect(recent.first).to_be_visible(timeout=WAIT)
        expect(page.locator("#recent-meetings")).to_contain_text("支部党员大会", timeout=WAIT)
        assert "general_meeting" not in page.locator("#recent-meetings").inner_text()
        assert_no_english(page)
    finally:
        page.context.close()


def test_talkback_says_when_the_halls_speaker_is_broken(county: Any, browser: Any) -> None:
    """The hall reports its speaker failed (devices/agent/faults.py): the branch
    page says so beside the push-to-talk button, and the tile's alerts name it;
    when the hall reports it fixed, the note goes."""
    b = county.branch("红星村党支部")
    hall = county.hall(b.name)
    broken = {"faults": [{"code": "speaker_failed", "zh": "音箱无法播放县里讲话；请检查音箱连接和音量",
                          "en": "the speaker cannot play the talkback"}]}
    county.run(hall.send("heartbeat", wait=True, health=broken))
    page = signed_in_page(browser, county.url)
    try:
        page.goto(f"{county.url}/ui/#/branch/{b.id}")
        expect(page.locator("#ptt-fault")).to_be_visible(timeout=WAIT)
        expect(page.locator("#ptt-fault")).to_contain_text("会场音箱故障")
        expect(page.locator(".b-head .alerts")).to_contain_text("会场音箱故障")
        county.run(hall.send("heartbeat", wait=True, health={"faults": []}))
        expect(page.locator("#ptt-fault")).to_be_hidden(timeout=WAIT)
    finally:
        page.context.close()
