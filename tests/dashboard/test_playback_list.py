"""The playback list, as an operator looks for one meeting: each row shows
how long the meeting lasted and the branch's township; township, meeting
type and text filters narrow it, and a date range asks the hub (meetings
older than the newest 500 are found that way). Real Chromium, real hub,
meetings opened and ended by the halls' edge sockets."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from tests.dashboard.helpers import County, signed_in_page

WAIT = 30_000


def rows(page: Any) -> list[str]:
    texts: list[str] = page.eval_on_selector_all("#pb-list li a", "els => els.map((e) => e.textContent)")
    return texts


def test_playback_list_filters_and_durations(county: County, browser: Any) -> None:
    held = {}
    for name, kind, topic in (("东风村党支部", "theme_day", "主题党日甲"), ("青山村党支部", "committee", "支委会乙")):
        hall = county.hall(name)
        meeting_id = county.run(hall.start_meeting(kind, topic))
        county.run(hall.end_meeting(meeting_id))
        held[name] = meeting_id
    page = signed_in_page(browser, county.url)
    try:
        page.goto(f"{county.url}/ui/#/playback")
        page.wait_for_selector("#pb-list li a", timeout=WAIT)
        listed = rows(page)
        ours = [r for r in listed if "主题党日甲" in r or "支委会乙" in r]
        assert len(ours) == 2, listed
        assert all("00:00:" in r for r in ours), ours  # a duration, hh:mm:ss (both ended within a minute)
        assert any("东风村党支部（城关镇）" in r for r in ours) and any("青山村党支部（青山镇）" in r for r in ours), ours

        page.select_option("select[name=pb-town]", "青山镇")
        page.wait_for_function("() => [...document.querySelectorAll('#pb-list li a')].every((a) => a.textContent.includes('青山镇'))")
        assert not any("主题党日甲" in r for r in rows(page))
        page.select_option("select[name=pb-town]", "")
        page.select_option("select[name=pb-type]", "theme_day")
        page.wait_for_function("() => !document.querySelector('#pb-list').textContent.includes('支委会乙')")
        assert any("主题党日甲" in r for r in rows(page))
        page.select_option("select[name=pb-type]", "")

        tomorrow = (date.today() + timedelta(days=1)).isoformat()
        page.fill("input[name=pb-from]", tomorrow)  # nothing held from tomorrow on: asked of the hub
        page.wait_for_selector("#pb-list li.empty", timeout=WAIT)
        page.fill("input[name=pb-from]", date.today().isoformat())
        page.wait_for_function("() => document.querySelector('#pb-list').textContent.includes('主题党日甲')")
    finally:
        page.context.close()
