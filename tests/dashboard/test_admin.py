"""The administration pages driven as a county admin would, in real
Chromium against a real hub (subprocess, real sign-in), with the real edge
agent (`devices.agent`) and the fingerprint emulator for the hall: create a
township and a branch, import a roster with two bad rows and fix them in
the page, register the hall and enrol the agent with the code read off the
page (its QR code decoded too), schedule and change a meeting that the
agent's kiosk then lists, record a leave, confirm a check-in by staff with
its reason once the hall opens the meeting, create an operator who signs in
and changes the password, filter (who, what, when) and export the audit log. Every page is scanned for English, error paths included."""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from branchlive import bench_fingerprint as fp
from tests.dashboard.helpers import bench, submit_login
from tests.dashboard.latin import assert_no_english

ROSTER = ("姓名,党员编号,手机,类别,免计,免计原因,支委,支委职务\n"
          "刘一,HK001,13800000001,正式,否,,是,书记\n"
          ",HK002,13800000002,正式,否,,否,\n"          # row 3: the name is missing
          "陈三,HK003,13800000003,预备,否,,否,\n"
          "张四,HK004,电话坏了,正式,否,,否,\n")        # row 5: not a phone number
WAIT = 30_000


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, chromium_available: None) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("admin")
    proc = bench.HubProcess(tmp / "hub").start()
    try:
        yield proc
    finally:
        proc.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def pick(page: Any, selector: str, text: str) -> None:
    """Choose the option whose visible text (without the tree indent) is `text`."""
    value = page.eval_on_selector(
        selector, "(s, n) => { const o = [...s.options].find((o) => o.textContent.trim() === n); return o && o.value; }", text)
    assert value, f"no option {text!r} in {selector}"
    page.select_option(selector, value)


def sign_in(page: Any, url: str, user: str, password: str) -> None:
    page.goto(url + "/")
    page.fill("#login-user", user)
    page.fill("#login-pass", password)
    submit_login(page)


def go(page: Any, url: str, path: str) -> None:
    page.goto(f"{url}/ui/#{path}")
    page.wait_for_selector(".adm-page h1", timeout=WAIT)


def section(page: Any, title: str) -> Any:
    return page.locator(".adm-section", has=page.locator("h2", has_text=title))


def kiosk_state(port: int) -> dict[str, Any]:
    return httpx.get(f"http://127.0.0.1:{port}/api/state", timeout=10).json()  # type: ignore[no-any-return]


def wait_until(check: Any, what: str, page: Any, tries: int = 600) -> None:
    """Poll a condition (re-checked every 100 ms of browser time, never a fixed sleep)."""
    for _ in range(tries):
        if check():
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_county_admin_sets_up_a_township_from_the_browser(hub: Any, browser: Any, tmp_path: Path) -> None:
    from firmware_stubs.fingerprint.emulator import FingerprintEmulator
    from firmware_stubs.fingerprint.module import Timings

    url = hub.url
    context = browser.new_context(locale="zh-CN", accept_downloads=True)
    page = context.new_page()  # under the hub's CSP, as an operator's browser runs it
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda e: violations.append(f"uncaught: {e}"))
    loop = bench.EdgeLoop()
    emulator = FingerprintEmulator("R307", library_path=tmp_path / "library.json", link=tmp_path / "fp0",
                                   timings=Timings(capture=0.05, extract=0.05, search=0.05, reset=0.05))
    agent = None
    try:
        sign_in(page, url, "admin", bench.ADMIN_PASSWORD)
        page.wait_for_selector("#topbar:not([hidden])", timeout=WAIT)

        # -- organisation: a township and a branch; the errors are in Chinese
        go(page, url, "/admin/orgs")
        form = section(page, "新建单位")
        form.locator("button[type=submit]").click()
        form.get_by_text("请填写名称").wait_for(timeout=WAIT)
        assert_no_english(page)
        page.fill("input[name=unit-name]", "河口镇")
        page.select_option("select[name=unit-kind]", "township")
        pick(page, "select[name=unit-parent]", "县委组织部")
        form.locator("button[type=submit]").click()
        page.locator("tr[data-unit=河口镇]").wait_for(timeout=WAIT)
        page.fill("input[name=unit-name]", "河口村")
        page.select_option("select[name=unit-kind]", "branch")
        pick(page, "select[name=unit-parent]", "河口镇")
        form.locator("button[type=submit]").click()
        page.locator("tr[data-unit=河口村]").wait_for(timeout=WAIT)
        # rename the branch in place
        page.locator("tr[data-unit=河口村] button", has_text="改名").click()
        page.fill("tr[data-unit=河口村] input[name=rename]", "河口村党支部")
        page.locator("tr[data-unit=河口村] button", has_text="保存").click()
        page.locator("tr[data-unit=河口村党支部]").wait_for(timeout=WAIT)
        # the hub refuses to deactivate a township that still has a branch: said in Chinese
        page.locator("tr[data-unit=河口镇] button", has_text="停用").click()
        page.locator("tr[data-unit=河口镇] .adm-msg", has_text="请先移走或停用").wait_for(timeout=WAIT)
        assert_no_english(page)

        # -- roster: two bad rows shown with their reasons, fixed in the page, sent again
        go(page, url, "/admin/members")
        pick(page, "select[name=branch]", "河口村党支部")
        # a file without the required columns: the hub's reason, in Chinese
        page.set_input_files("input[name=roster-file]", files=[
            {"name": "名单.csv", "mimeType": "text/csv", "buffer": "名字,电话\n刘一,138\n".encode()}])
        section(page, "导入花名册").locator("button[type=submit]").click()
        page.get_by_text("文件无法读取").wait_for(timeout=WAIT)
        assert_no_english(page)
        page.set_input_files("input[name=roster-file]", files=[
            {"name": "花名册.csv", "mimeType": "text/csv", "buffer": ROSTER.encode("utf-8-sig")}])
        section(page, "导入花名册").locator("button[type=submit]").click()
        page.get_by_text("新增 2 人，更新 0 人，2 行有问题").wait_for(timeout=WAIT)
        assert page.locator("tr[data-row]").count() == 2
        assert "姓名为空" in page.text_content("tr[data-row='3'] .adm-reason")
        assert "不是号码" in page.text_content("tr[data-row='5'] .adm-reason")
        assert_no_english(page)
        page.fill("input[name=fix-3-name]", "王二")
        page.fill("input[name=fix-5-phone]", "13800000004")
        page.get_by_role("button", name="重新提交这些行").click()
        page.get_by_text("新增 2 人，更新 0 人，0 行有问题").wait_for(timeout=WAIT)
        page.get_by_text("在册 4 人").wait_for(timeout=WAIT)
        assert "书记" in page.text_content("tr[data-member=HK001]")
        # edit a member: excused needs a reason (checked in the page), then saved
        page.locator("tr[data-member=HK003] button", has_text="编辑").click()
        page.select_option("select[name=edit-standing]", "excused")
        page.get_by_role("button", name="保存").click()
        page.get_by_text("请填写原因").wait_for(timeout=WAIT)
        assert_no_english(page)
        page.fill("input[name=edit-reason]", "长期卧床")
        page.get_by_role("button", name="保存").click()
        page.locator("tr[data-member=HK003]", has_text="免计").wait_for(timeout=WAIT)

        # -- the hall: register, read the code and its QR, enrol the real agent with it
        go(page, url, "/admin/devices")
        pick(page, "select[name=branch]", "河口村党支部")
        section(page, "登记会场主机").locator("button[type=submit]").click()
        code = page.get_attribute(".adm-code", "data-code", timeout=WAIT)
        assert code and page.text_content(".adm-code code") == code
        # the QR code on the page decodes (OpenCV's detector, as a scanner would) to the same code
        png = np.frombuffer(page.locator("svg.adm-qr").screenshot(), dtype=np.uint8)
        decoded, _, _ = cv2.QRCodeDetector().detectAndDecode(cv2.imdecode(png, cv2.IMREAD_GRAYSCALE))
        assert decoded == code
        emulator.start()
        agent = loop.run(fp.start_edge(tmp_path / "edge", url, code, reader_port=str(emulator.link)))
        loop.run(fp.wait_for(lambda: agent.online, 60, "the agent online"))
        fleet_row = page.locator("tr[data-branch=河口村党支部]")

        def healthy() -> bool:
            section(page, "各会场设备状态").get_by_role("button", name="刷新").click()
            page.wait_for_load_state()
            return fleet_row.count() == 1 and "在线" in (fleet_row.text_content() or "") and \
                "正常" in (fleet_row.text_content() or "")

        wait_until(healthy, "the hall online with its reader ready on the devices page", page)
        fleet_table = section(page, "各会场设备状态").locator("table")
        assert "音箱" in fleet_table.locator("thead").inner_text()  # the speaker talkback plays on
        assert fleet_table.locator("thead th").count() == fleet_row.locator("td").count()
        assert_no_english(page)

        # -- a meeting scheduled in the page reaches the hall's kiosk; then a leave
        go(page, url, "/admin/meetings")
        pick(page, "select[name=branch]", "河口村党支部")
        page.select_option("select[name=m-type]", "theme_day")
        section(page, "安排会议").locator("button[type=submit]").click()
        page.get_by_text("请填写会议主题").wait_for(timeout=WAIT)
        assert_no_english(page)
        start = (datetime.now() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
        page.fill("input[name=m-topic]", "河口村主题党日")
        page.fill("input[name=m-start]", start)
        section(page, "安排会议").locator("button[type=submit]").click()
        page.locator("tr[data-topic=河口村主题党日]").wait_for(timeout=WAIT)
        wait_until(lambda: any(m["topic"] == "河口村主题党日" for m in kiosk_state(agent.kiosk_port)["schedule"]),
                   "the kiosk listing the scheduled meeting", page)
        page.locator("tr[data-topic=河口村主题党日] button", has_text="详情").click()
        detail = page.locator(".adm-section", has=page.locator("h2", has_text="会议：河口村主题党日"))
        detail.wait_for(timeout=WAIT)
        pick(page, "select[name=record_leave-member]", "王二（HK002）")
        detail.get_by_role("button", name="登记请假").click()
        detail.get_by_text("请填写原因").wait_for(timeout=WAIT)
        page.fill("input[name=record_leave-reason]", "外出务工")
        detail.get_by_role("button", name="登记请假").click()
        detail.locator("td", has_text="外出务工").wait_for(timeout=WAIT)
        assert_no_english(page)
        # changed in the page: the kiosk follows
        meeting_id = page.get_attribute("tr[data-topic=河口村主题党日]", "data-meeting")
        page.locator("tr[data-topic=河口村主题党日] button", has_text="编辑").click()
        page.fill("td[colspan='5'] input[name=m-topic]", "学习党章")
        page.locator("td[colspan='5'] button[type=submit]").click()
        page.locator("tr[data-topic=学习党章]").wait_for(timeout=WAIT)
        wait_until(lambda: [m["topic"] for m in kiosk_state(agent.kiosk_port)["schedule"]] == ["学习党章"],
                   "the kiosk showing the changed topic", page)
        # the hall opens it; a member whose finger does not read is confirmed by staff, with the reason
        kiosk = loop.run(fp.kiosk_client(agent))
        try:
            r = loop.run(kiosk.post("/api/admin/meeting/start", json={"scheduled_id": meeting_id}))
            assert r.status_code == 201, r.text
        finally:
            loop.run(kiosk.aclose())
        admin = bench.admin_client(url)
        try:  # the start travels through the agent's outbox: the page is opened once the hub has it
            wait_until(lambda: admin.get(f"/api/v1/meetings/{meeting_id}").json()["status"] == "live",
                       "the hub to record the meeting as started at the hall", page)
        finally:
            admin.close()
        go(page, url, "/admin/meetings")
        pick(page, "select[name=branch]", "河口村党支部")
        page.locator("tr[data-topic=学习党章]", has_text="进行中").wait_for(timeout=WAIT)
        page.locator("tr[data-topic=学习党章] button", has_text="详情").click()
        detail = page.locator(".adm-section", has=page.locator("h2", has_text="会议：学习党章"))
        page.locator("select[name=staff_checkin-member]").wait_for(timeout=WAIT)
        pick(page, "select[name=staff_checkin-member]", "刘一（HK001）")
        detail.get_by_role("button", name="工作人员确认签到").click()
        detail.get_by_text("请填写原因").wait_for(timeout=WAIT)
        page.fill("input[name=staff_checkin-reason]", "指纹磨损，本人到场")
        detail.get_by_role("button", name="工作人员确认签到").click()
        detail.locator("tr", has_text="指纹磨损，本人到场").filter(has_text="工作人员确认").wait_for(timeout=WAIT)
        assert_no_english(page)

        # -- an operator for the township, who signs in and picks a password
        go(page, url, "/admin/operators")
        page.fill("input[name=op-username]", "河口")
        section(page, "新建操作员").locator("button[type=submit]").click()
        page.get_by_text("用户名为 2-64 位字母").wait_for(timeout=WAIT)
        assert_no_english(page)
        page.fill("input[name=op-username]", "hekou")
        page.fill("input[name=op-display]", "河口镇值班员")
        page.fill("input[name=op-password]", "hekou-first-1")
        page.select_option("select[name=op-role]", "township_operator")
        pick(page, "select[name=op-scope]", "河口镇")
        section(page, "新建操作员").locator("button[type=submit]").click()
        page.locator("tr[data-operator=hekou]", has_text="待首次改密").wait_for(timeout=WAIT)
        other = browser.new_context(locale="zh-CN")
        try:
            op_page = other.new_page()
            sign_in(op_page, url, "hekou", "hekou-first-1")
            op_page.wait_for_selector("#pw-form:not([hidden])", timeout=WAIT)
            assert_no_english(op_page)
            op_page.fill("#pw-current", "hekou-first-1")
            op_page.fill("#pw-new", "hekou-own-pw-2")
            op_page.click("#pw-form button[type=submit]")
            op_page.wait_for_selector("#topbar:not([hidden])", timeout=WAIT)
            # the township operator sees its own township's branch in the admin pages
            go(op_page, url, "/admin/members")
            op_page.get_by_text("在册 4 人").wait_for(timeout=WAIT)
            assert_no_english(op_page)
            # and changes it again, later, on its own (a wrong current password first)
            go(op_page, url, "/admin/password")
            op_page.fill("input[name=my-current]", "not-my-password")
            op_page.fill("input[name=my-new]", "hekou-third-pw-3")
            op_page.fill("input[name=my-again]", "hekou-third-pw-3")
            op_page.get_by_role("button", name="保存").click()
            op_page.get_by_text("当前密码不正确").wait_for(timeout=WAIT)
            assert_no_english(op_page)
            op_page.fill("input[name=my-current]", "hekou-own-pw-2")
            op_page.get_by_role("button", name="保存").click()
            op_page.get_by_text("密码已修改").wait_for(timeout=WAIT)
        finally:
            other.close()
        bench.login_client(url, "hekou", "hekou-third-pw-3").close()

        # -- the audit log: by what, by who; exported as the filter says
        go(page, url, "/admin/audit")
        pick(page, "select[name=f-action]", "安排会议")
        section(page, "筛选").locator("button[type=submit]").click()
        page.get_by_text("共 1 条").wait_for(timeout=WAIT)
        assert page.locator("tr[data-action=meeting_scheduled]").count() == 1
        # in words, not codes or JSON; the code in its own column for IT
        row = page.locator("tr[data-action=meeting_scheduled]")
        assert row.locator(".adm-action").inner_text() == "安排会议"
        assert row.locator(".adm-code-col").inner_text() == "meeting_scheduled"
        pick(page, "select[name=f-action]", "导入花名册")
        section(page, "筛选").locator("button[type=submit]").click()
        page.locator("tr[data-action=roster_imported]").first.wait_for(timeout=WAIT)
        details = page.locator("tr[data-action=roster_imported] .adm-detail").all_inner_texts()
        assert any("新增：2" in d and "错误：2" in d for d in details), details
        assert not [d for d in details if "{" in d or '"' in d], details
        page.select_option("select[name=f-action]", "")
        page.fill("input[name=f-actor]", "hekou")
        section(page, "筛选").locator("button[type=submit]").click()
        page.locator("tr[data-action=password_changed][data-actor=hekou]").nth(1).wait_for(timeout=WAIT)  # forced, then its own
        assert page.locator("tr[data-actor=admin]").count() == 0
        assert_no_english(page)
        with page.expect_download(timeout=WAIT) as dl:
            section(page, "筛选").get_by_role("button", name="导出 CSV").click()
        rows = list(csv.reader(io.StringIO(Path(dl.value.path()).read_text(encoding="utf-8-sig"))))
        assert len(rows) > 1 and {r[1] for r in rows[1:]} == {"hekou"}
        assert {r[2] for r in rows[1:]} >= {"修改密码"} and {r[7] for r in rows[1:]} >= {"password_changed"}
        # by time: nothing before the hub existed
        page.fill("input[name=f-actor]", "")
        page.fill("input[name=f-until]", "2001-01-01T00:00")
        section(page, "筛选").locator("button[type=submit]").click()
        page.get_by_text("共 0 条").wait_for(timeout=WAIT)

        # -- the hall's PC is replaced (a new code; the old PC is cut off), then revoked
        go(page, url, "/admin/devices")
        pick(page, "select[name=branch]", "河口村党支部")
        page.locator("tr[data-device] button", has_text="更换主机").click()
        page.locator("[role=dialog] button", has_text="确定").click()
        page.locator(f".adm-code:not([data-code='{code}'])").wait_for(timeout=WAIT)
        loop.run(fp.wait_for(lambda: not agent.online, 60, "the old PC cut off"))
        page.locator("tr[data-device]", has_text="待注册").wait_for(timeout=WAIT)
        page.locator("tr[data-device] button", has_text="吊销").click()
        page.locator("[role=dialog] button", has_text="确定").click()
        page.locator("tr[data-device]", has_text="已吊销").wait_for(timeout=WAIT)
        assert_no_english(page)
        assert violations == []
    finally:
        context.close()
        if agent is not None:
            loop.run(agent.shutdown(), timeout=60)
        loop.close()
        emulator.stop()
