"""The supervision pages on the one shell, in real Chromium as an operator
uses them, with a county of 30 townships: every page read for English
(tests/dashboard/latin.py), error paths included (a wrong password at
sign-in, an empty batch name, a plan returned without a reason, a 403 for a
read-only account, a 409 for a plan filed twice); names instead of ids,
notes and statuses in Chinese, colours that mean what they say, no literal
"null", and report charts whose 30 township labels do not overlap."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import create_engine, update
from sqlalchemy.orm import Session

from hub.organisations.models import OrgUnit
from tests.dashboard.helpers import County, bench, submit_login
from tests.dashboard.latin import assert_no_english

WAIT = 30_000
TOWNS = [f"{a}{b}乡" for a in "金银铜铁锡" for b in "山水林田湖草"][:28]
VIEWER_PASSWORD = "viewer-pass-1"
GREEN, RED = "rgb(63, 185, 80)", "rgb(248, 81, 73)"


def setup_county(county: County) -> str:
    admin = bench.admin_client(county.url)
    try:
        bench.seed_county(admin, {t: [f"{t[:2]}村党支部"] for t in TOWNS}, members_per_branch=2, devices=False)
        root = next(u for u in admin.get("/api/v1/org-units").json() if u["kind"] == "county")
        r = admin.post("/api/v1/operators", json={"username": "kanban", "password": VIEWER_PASSWORD, "role": "viewer",
                                                 "scope_id": root["id"], "display_name": "县委督查室"})
        assert r.status_code == 201, r.text
        branch = county.branch("东风村党支部").id
        for i, name in enumerate(["李建华", "王秀兰", "赵志刚"]):  # the phone check calls members who left a number
            r = admin.post(f"/api/v1/branches/{branch}/members", json={"name": name, "member_no": f"DF-{i}", "phone": f"1380000000{i}"})
            assert r.status_code == 201, r.text
    finally:
        admin.close()
    # The county has been on the hub for years: the weeks before today are judged
    # (no meeting is owed for a period before a branch was set up).
    engine = create_engine(f"sqlite:///{county.hub.data_dir / 'branchlive.db'}")
    try:
        with Session(engine) as s:
            s.execute(update(OrgUnit).values(created_at=datetime(2020, 1, 1, tzinfo=UTC)))
            s.commit()
    finally:
        engine.dispose()
    sim = county.hall("东风村党支部")
    return str(county.run(sim.start_meeting("general_meeting", "学习党章")))


def open_page(page: Any, url: str, path: str, ready: str) -> None:
    page.goto(f"{url}/ui/#{path}")
    expect(page.locator(f"#view-page {ready}").first).to_be_visible(timeout=WAIT)
    expect(page.locator("#view-page .muted", has_text="加载中")).to_have_count(0, timeout=WAIT)


def pick(select: Any, text: str) -> None:
    """Choose the option whose text contains `text` (tree pickers indent names)."""
    expect(select.locator("option", has_text=text).first).to_be_attached(timeout=WAIT)
    select.select_option(select.locator("option", has_text=text).first.get_attribute("value"))


def toast(page: Any) -> Any:
    t = page.locator("#toast:not([hidden])")
    expect(t).to_be_visible(timeout=WAIT)
    return t


def test_supervision_pages_read_right(county: County, browser: Any) -> None:
    setup_county(county)
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN", bypass_csp=True)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        # The old address still works: it leads into the shell, which asks to sign in first.
        page.goto(county.url + "/ui/supervision/")
        expect(page.locator("#login-form")).to_be_visible(timeout=WAIT)
        assert "#/supervision" in page.url
        page.fill("#login-user", "admin")
        page.fill("#login-pass", "not-the-password")
        submit_login(page)
        expect(page.locator("#login-msg")).to_have_text("用户名或密码错误", timeout=WAIT)
        assert_no_english(page)
        page.fill("#login-pass", bench.ADMIN_PASSWORD)
        submit_login(page)
        # Signed in, the shell opens the page the address asked for.
        expect(page.locator("#subnav a.on")).to_have_text("合规监测", timeout=WAIT)
        expect(page.locator("#nav a[data-view=supervision]")).to_have_class(re.compile(r"\bon\b"))
        assert page.url.endswith("#/supervision/compliance")

        # -- 合规监测: notes in Chinese, the meeting by its day and topic, colours that mean what they say
        expect(page.locator("#view-page table.grid").nth(1)).to_be_visible(timeout=WAIT)
        expect(page.locator("#view-page td", has_text=re.compile(r"^主题党日应在 \d{4}-\d\d-05 召开$")).first).to_be_visible(timeout=WAIT)
        held = page.locator("#view-page td a[href^='#/playback/']").first
        expect(held).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d 学习党章$"))
        legend = page.locator("svg.chart[aria-label=各类会议合规情况]")
        assert legend.locator("text.legend", has_text="合格").count() == 1

        def key_colour(name: str) -> str:
            return str(legend.evaluate("(svg, name) => { const t = [...svg.querySelectorAll('text.legend')].find(x => x.textContent === name);"
                                       " return getComputedStyle(t.previousElementSibling).fill; }", name))
        assert key_colour("合格") == GREEN and key_colour("未直播录像") == RED
        not_held = page.locator("#view-page .pill", has_text="未召开").first
        assert not_held.evaluate("e => getComputedStyle(e).color") == RED
        assert_no_english(page)

        # -- 会议计划: file one, read it (no "null"), return it without a reason, then file it twice (409)
        open_page(page, county.url, "/supervision/plans", "form")
        form = page.locator("#view-page form.stack")
        pick(form.locator("select[name=branch_id]"), "东风村党支部")
        row = form.locator(".row").first
        row.locator("[name=planned_date]").fill("2030-01-05")
        row.locator("[name=topic]").fill("学习新修订的党章")
        row.locator("[name=form]").fill("集中学习")
        form.locator("[name=year]").fill("2030")
        form.locator("[name=month]").fill("1")
        form.locator("button[type=submit]").click()
        detail = page.locator("#view-page h2", has_text="东风村党支部 · 2030-1")
        expect(detail).to_be_visible(timeout=WAIT)
        expect(page.locator("#view-page td", has_text="学习新修订的党章").first).to_be_visible()
        assert_no_english(page)
        page.locator("#view-page button.danger", has_text="退回修改").click()
        expect(page.locator("#view-page .field-msg", has_text="退回修改时请写明理由")).to_be_visible(timeout=WAIT)
        assert_no_english(page)
        form.locator("button[type=submit]").click()  # the same plan again
        expect(toast(page)).to_contain_text("冲突")
        assert_no_english(page)

        # -- 整改台账: empty fields are named on the page; open an item, close it with a note
        open_page(page, county.url, "/supervision/ledger", "form")
        create = page.locator("#view-page form.stack")
        create.locator("button[type=submit]").click()
        expect(create.locator(".field-msg", has_text="请填写：整改事项")).to_be_visible(timeout=WAIT)
        assert_no_english(page)
        pick(create.locator("select[name=branch_id]"), "东风村党支部")
        expect(create.locator("select[name=evidence_meeting_id] option", has_text="学习党章")).to_have_count(1, timeout=WAIT)
        create.locator("[name=deadline]").fill("2031-06-30")
        create.locator("[name=responsible]").fill("刘书记")
        create.locator("[name=problem]").fill("三会一课记录不全")
        create.locator("[name=measures]").fill("补齐记录并签字")
        pick(create.locator("select[name=evidence_meeting_id]"), "学习党章")
        create.locator("button[type=submit]").click()
        item = page.locator("#view-page tr", has_text="三会一课记录不全")
        expect(item).to_be_visible(timeout=WAIT)
        expect(item.locator("a[href^='#/playback/']")).to_contain_text("录像第 0 秒")
        item.locator("button", has_text="销号").click()
        dialog = page.locator(".overlay.confirm form")
        dialog.locator("button[type=submit]").click()
        expect(dialog.locator(".field-msg", has_text="请填写")).to_be_visible()
        assert_no_english(page)
        dialog.locator("textarea").fill("已补齐")
        dialog.locator("button[type=submit]").click()
        expect(item.locator(".pill")).to_have_text("已销号", timeout=WAIT)
        assert_no_english(page)

        # -- 督查评分
        open_page(page, county.url, "/supervision/scores", "fieldset")
        assert_no_english(page)

        # -- 电话抽查: an empty batch name is refused with a visible message; the placeholder does not look like a value
        open_page(page, county.url, "/supervision/spot-checks", "form")
        draw = page.locator("#view-page form", has=page.locator("[name=sample_size]"))
        label = draw.locator("[name=label]")
        assert label.input_value() == ""
        assert label.evaluate("e => getComputedStyle(e, '::placeholder').fontStyle") == "italic"
        before = page.locator("#view-page tr").count()
        draw.locator("button[type=submit]").click()
        expect(draw.locator(".field-msg:not(:empty)")).to_have_text("请填写：批次名称", timeout=WAIT)
        assert page.locator("#view-page tr").count() == before
        assert_no_english(page)
        label.fill("第一季度电话抽查")
        expect(draw.locator(".field-msg:not(:empty)")).to_have_count(0)
        draw.locator("[name=sample_size]").fill("3")
        draw.locator("button[type=submit]").click()
        expect(page.locator("#view-page h2:has-text('第一季度电话抽查'), #toast.error:not([hidden])").first).to_be_visible(timeout=WAIT)
        assert page.locator("#toast.error:not([hidden])").count() == 0, page.locator("#toast").inner_text()
        assert_no_english(page)

        # -- 通知
        open_page(page, county.url, "/supervision/notifications", "form")
        page.locator("#view-page button", has_text="提醒支部").click()
        expect(toast(page)).to_contain_text("已排队")
        assert_no_english(page)

        # -- 统计报告: 30 townships, every label legible and apart
        open_page(page, county.url, "/supervision/reports", ".stats")
        chart = page.locator("svg.chart[aria-label=分乡镇情况]")
        labels = chart.locator("text.label")
        expect(labels).to_have_count(30, timeout=WAIT)
        boxes = labels.evaluate_all("ts => ts.map(t => { const r = t.getBoundingClientRect();"
                                    " return [r.left, r.top, r.right, r.bottom, parseFloat(getComputedStyle(t).fontSize)]; })")
        assert min(b[4] for b in boxes) >= 12
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                apart = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
                assert apart, f"labels overlap: {a} {b}"
        assert_no_english(page)

        # The wall, opened after the supervision pages, holds every hall (it took the first snapshot at sign-in).
        page.goto(county.url + "/ui/#/wall")
        expect(page.locator("#view-wall .tile")).to_have_count(len(county.branches) + len(TOWNS), timeout=WAIT)
        expect(page.locator("#wall-search")).to_have_attribute("placeholder", "搜索支部名称（/）")
        assert_no_english(page)
        assert errors == []
    finally:
        context.close()

    # A read-only account: the pages open, writing is refused (403) in Chinese.
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN", bypass_csp=True)
    try:
        page = context.new_page()
        page.goto(county.url + "/ui/#/supervision/ledger")
        page.fill("#login-user", "kanban")
        page.fill("#login-pass", VIEWER_PASSWORD)
        submit_login(page)
        expect(page.locator("#view-page form.stack")).to_be_visible(timeout=WAIT)
        create = page.locator("#view-page form.stack")
        create.locator("[name=deadline]").fill("2031-06-30")
        create.locator("[name=responsible]").fill("刘书记")
        create.locator("[name=problem]").fill("记录不全")
        create.locator("[name=measures]").fill("补齐")
        create.locator("button[type=submit]").click()
        expect(toast(page)).to_contain_text("您的账号只能查看")
        assert_no_english(page)
    finally:
        context.close()
