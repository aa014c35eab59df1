"""组织生活预审 in real Chromium, against a real hub and its real sign-in: a
branch secretary files a plan (a vague topic is refused first, in Chinese),
the township operator returns it with a reason (an empty reason is refused
first), the secretary reads the reason, edits and resubmits, the operator
approves; the secretary reads an in-app message, uploads rectification
evidence (an unsupported file refused first), records a leave and sees the
branch's compliance. Every page driven is scanned for English."""

from __future__ import annotations

from typing import Any

from tests.dashboard.helpers import OPERATOR_PASSWORD, County, bench, submit_login
from tests.dashboard.latin import assert_no_english

SECRETARY = ("dongfeng_shuji", "shuji-pass-123")
WAIT = 30_000


def sign_in(browser: Any, url: str, username: str, password: str) -> Any:
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
    page = context.new_page()
    page.goto(url + "/")
    page.fill("#login-user", username)
    page.fill("#login-pass", password)
    submit_login(page)
    page.wait_for_selector("#topbar:not([hidden])", timeout=WAIT)
    return page


def go(page: Any, path: str, ready: str) -> None:
    page.evaluate("p => { location.hash = p; }", f"#{path}")
    page.wait_for_selector(ready, timeout=WAIT)


def toast(page: Any, text: str) -> None:
    page.wait_for_selector(f"#toast:not([hidden]):has-text('{text}')", timeout=WAIT)


def test_plan_review_round_trip_in_the_browser(county: County, browser: Any) -> None:
    branch = county.branch("东风村党支部")
    town = bench.login_client(county.url, "chengguan", OPERATOR_PASSWORD)
    try:
        r = town.post("/api/v1/operators", json={"username": SECRETARY[0], "password": SECRETARY[1], "role": "branch_secretary",
                                                 "scope_id": branch.id, "display_name": "刘书记"})
        assert r.status_code == 201, r.text
        r = town.post("/api/v1/rectifications", json={"branch_id": branch.id, "problem": "三会一课记录本未按月填写",
                                                      "measures": "补齐近三个月记录", "deadline": "2099-01-31", "responsible": "刘书记"})
        assert r.status_code == 201, r.text
        item = r.json()["id"]
        r = town.post(f"/api/v1/branches/{branch.id}/meetings", json={
            "meeting_type": "theme_day", "topic": "学习党的二十届三中全会精神", "scheduled_start": "2099-01-05T01:00:00Z"})
        assert r.status_code == 201, r.text
        meeting = r.json()["id"]
    finally:
        town.close()

    sec = sign_in(browser, county.url, *SECRETARY)
    op = sign_in(browser, county.url, "chengguan", OPERATOR_PASSWORD)
    try:
        # The secretary lands on its inbox: the rectification item arrived there.
        sec.wait_for_selector("#my-messages .message.unread:has-text('三会一课记录本未按月填写')", timeout=WAIT)
        assert sec.url.endswith("#/my/inbox")
        assert_no_english(sec)

        # Filing: empty fields, then a vague topic, are refused with Chinese messages.
        go(sec, "/my/plans", "#my-new-plan form")
        form = sec.locator("#my-new-plan form")
        form.locator("input[name=year]").fill("2099")
        form.locator("input[name=month]").fill("1")
        form.locator("button[type=submit]").click()
        sec.wait_for_selector("#my-new-plan .field-msg:has-text('请填写')", timeout=WAIT)
        assert_no_english(sec)
        form.locator("select[name=meeting_type]").select_option("theme_day")
        form.locator("input[name=planned_date]").fill("2099-01-05")
        form.locator("input[name=topic]").fill("学习")
        form.locator("input[name=form]").fill("集中学习")
        form.locator("button[type=submit]").click()
        sec.wait_for_selector("#my-new-plan .item-msg:has-text('主题太笼统')", timeout=WAIT)
        toast(sec, "计划内容有误")
        assert_no_english(sec)
        form.locator("input[name=topic]").fill("学习新修订的纪律处分条例")
        form.locator("button[type=submit]").click()
        toast(sec, "已报送")
        sec.wait_for_selector("#my-plans [data-status=submitted]", timeout=WAIT)
        assert_no_english(sec)

        # The township returns it: first without a reason (refused on the page), then with one.
        go(op, "/supervision/review", "#review-queue tr[data-plan]")
        assert "东风村党支部" in op.inner_text("#review-queue")
        op.click("#review-queue tr[data-plan] button")
        op.wait_for_selector("#review-detail button.return", timeout=WAIT)
        op.click("#review-detail button.return")
        op.wait_for_selector("#review-detail .field-msg:has-text('退回时请写明理由')", timeout=WAIT)
        assert_no_english(op)
        op.fill("#review-detail textarea[name=reason]", "主题不够具体，请写明学习篇目")
        op.click("#review-detail button.return")
        toast(op, "已退回支部")
        op.wait_for_selector("#review-queue p.empty", timeout=WAIT)
        assert_no_english(op)

        # The secretary sees the reason, edits and resubmits.
        go(sec, "/my/inbox", "#my-messages .message:has-text('主题不够具体')")
        go(sec, "/my/plans", "#my-plans [data-status=returned]")
        assert "主题不够具体，请写明学习篇目" in sec.inner_text("#my-plans")
        sec.click("#my-plans tr[data-plan] button")
        sec.wait_for_selector("#my-plan-detail .return-reason:has-text('主题不够具体')", timeout=WAIT)
        assert_no_english(sec)
        sec.fill("#my-plan-detail input[name=topic]", "学习《中国共产党纪律处分条例》第一至三章")
        sec.click("#my-plan-detail button[type=submit]")
        toast(sec, "已重新报送")
        sec.wait_for_selector("#my-plans [data-status=resubmitted]", timeout=WAIT)
        assert_no_english(sec)

        # The county's plan list: 待审核 holds the resubmitted plan too, and it can be reviewed there.
        go(op, "/supervision/plans", "form.filters select[name=status]")
        op.select_option("form.filters select[name=status]", "awaiting")
        op.click("form.filters button[type=submit]")
        row = op.locator("tr:has-text('东风村党支部'):has-text('已重新报送')")
        row.wait_for(timeout=WAIT)
        row.locator("button").click()
        op.wait_for_selector("button:has-text('通过')", timeout=WAIT)
        assert_no_english(op)

        # The township approves the second revision.
        go(op, "/supervision/review", "#review-queue")
        op.reload()  # the queue again, as an operator coming back to it
        op.wait_for_selector("#review-queue tr[data-plan]", timeout=WAIT)
        op.click("#review-queue tr[data-plan] button")
        op.wait_for_selector("#review-detail:has-text('第2版')", timeout=WAIT)
        op.click("#review-detail button.approve")
        toast(op, "已通过")
        op.wait_for_selector("#review-queue p.empty", timeout=WAIT)

        go(sec, "/my/inbox", "#my-messages .message:has-text('已通过预审')")
        go(sec, "/my/plans", "#my-plans [data-status=approved]")

        # The inbox: an unread message is marked read.
        go(sec, "/my/inbox", "#my-messages .message.unread")
        unread = sec.locator("#my-messages .message.unread").count()
        sec.locator("#my-messages .message.unread button").first.click()
        sec.wait_for_function(f"() => document.querySelectorAll('#my-messages .message.unread').length === {unread - 1}",
                              timeout=WAIT)
        assert_no_english(sec)

        # Rectification evidence: nothing chosen, then a file type refused, then a photo.
        go(sec, "/my/rectification", f"#my-items [data-item='{item}'] form.upload")
        card = sec.locator(f"#my-items [data-item='{item}']")
        card.locator("button[type=submit]").click()
        sec.wait_for_selector(f"#my-items [data-item='{item}'] .field-msg:has-text('请先选择')", timeout=WAIT)
        card.locator("input[type=file]").set_input_files(files=[{"name": "tool.exe", "mimeType": "application/x-msdownload",
                                                                 "buffer": b"MZ\x90\x00"}])
        card.locator("button[type=submit]").click()
        toast(sec, "不支持此类文件")
        assert_no_english(sec)
        card.locator("input[type=file]").set_input_files(files=[{"name": "记录本.jpg", "mimeType": "image/jpeg",
                                                                 "buffer": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"}])
        card.locator("button[type=submit]").click()
        toast(sec, "已上传")
        sec.wait_for_selector(f"#my-items [data-item='{item}'] .evidence a:has-text('记录本.jpg')", timeout=WAIT)
        assert_no_english(sec, allow=["jpg"])  # the file's own name, in the toast

        # Leave for a member of the branch, and the branch's compliance.
        go(sec, "/my/leave", "#my-leave-list")
        sec.select_option("select[name=member]", index=1)
        sec.fill("input[name=reason]", "外出务工")
        sec.click("#view-page button[type=submit]")
        sec.wait_for_selector("#my-leave-list li:has-text('外出务工')", timeout=WAIT)
        assert_no_english(sec)
        go(sec, "/my/compliance", "#my-compliance-summary")
        assert_no_english(sec)
        # The wall is not the secretary's: the route says so, in Chinese.
        go(sec, "/wall", "main .page-msg.error")
        assert_no_english(sec)
    finally:
        sec.context.close()
        op.context.close()

    # What the browser did is what the hub stored.
    admin = bench.admin_client(county.url)
    try:
        plans = admin.get("/api/v1/supervision/plans", params={"unit_id": branch.id}).json()
        assert [(p["status"], p["revision"]) for p in plans] == [("approved", 2)]
        full = admin.get(f"/api/v1/supervision/plans/{plans[0]['id']}").json()
        assert [(r["revision"], r["decision"]) for r in full["reviews"]] == [(1, "returned"), (2, "approved")]
        ev = admin.get(f"/api/v1/rectifications/{item}").json()["evidence"]
        assert [(e["filename"], e["uploaded_by"]) for e in ev] == [("记录本.jpg", SECRETARY[0])]
        leave = admin.get(f"/api/v1/meetings/{meeting}/leave-requests").json()
        assert [(x["reason"], x["filed_by"]) for x in leave] == [("外出务工", SECRETARY[0])]
    finally:
        admin.close()
