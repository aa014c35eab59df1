"""Two branches with the same name in two townships (a county has several
"东风村党支部"-like names) can be told apart in every unit picker: the
township follows the name. Real Chromium against a real hub."""

from __future__ import annotations

from typing import Any

from tests.dashboard.helpers import County, bench, signed_in_page

WAIT = 30_000


def option_texts(page: Any, selector: str) -> list[str]:
    page.wait_for_selector(selector, timeout=WAIT)
    texts: list[str] = page.eval_on_selector(selector, "s => [...s.options].map((o) => o.textContent.trim())")
    return texts


def test_branches_of_one_name_are_told_apart_in_pickers(county: County, browser: Any) -> None:
    client = bench.admin_client(county.url)
    try:
        units = client.get("/api/v1/org-units").json()
        qingshan = next(u["id"] for u in units if u["name"] == "青山镇")
        r = client.post("/api/v1/org-units", json={"name": "东风村党支部", "kind": "branch", "parent_id": qingshan})
        assert r.status_code == 201, r.text
    finally:
        client.close()
    page = signed_in_page(browser, county.url)
    try:
        page.goto(f"{county.url}/ui/#/admin/members")
        branches = option_texts(page, "select[name=branch]")
        same = [text for text in branches if text.startswith("东风村党支部")]
        assert sorted(same) == ["东风村党支部（城关镇）", "东风村党支部（青山镇）"], branches
        assert "红星村党支部" in branches  # a unique name stays as it is
        page.goto(f"{county.url}/ui/#/supervision/spot-checks")
        units = option_texts(page, "select[name=unit_id]")
        assert sorted(t for t in units if "东风村党支部" in t) == ["东风村党支部（城关镇）", "东风村党支部（青山镇）"], units
    finally:
        page.context.close()
