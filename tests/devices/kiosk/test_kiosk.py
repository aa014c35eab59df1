"""The kiosk page and its admin API, driven like the hall would drive it."""

from __future__ import annotations

import pytest

from tests.devices.kiosk.conftest import (
    FingerMatched,
    Kiosk,
    NotRecognised,
    PoorImage,
    ReaderFault,
    ReaderReconnected,
)


async def test_page_is_local_chinese_and_shows_no_meeting(kiosk: Kiosk) -> None:
    r = await kiosk.client.get("/")
    assert r.status_code == 200
    page = r.text
    assert '<html lang="zh-CN">' in page
    assert "当前没有会议" in page and "会议尚未开始" in page
    assert "离线" in page  # no uplink in this test
    assert "http://" not in page.replace('"http://kiosk', "") and "https://" not in page
    for asset in ("/static/kiosk.css", "/static/kiosk.js"):
        assert (await kiosk.client.get(asset)).status_code == 200


async def test_fingerprint_check_in_shows_on_the_page(kiosk: Kiosk) -> None:
    await kiosk.hall.slots.assign(5, "11")
    await kiosk.hall.desk.start_meeting("theme_day", "学习二十大精神")
    page = (await kiosk.client.get("/")).text
    assert "主题党日" in page and "学习二十大精神" in page and "请按手指" in page

    await kiosk.hall.handle_reader_event(FingerMatched(slot=5))
    page = (await kiosk.client.get("/")).text
    assert "张三，签到成功" in page
    assert '<b id="last-name">张三</b>' in page
    assert '<b id="count-n">1</b> / <span id="count-total">2</span>' in page  # 王五 excused
    state = (await kiosk.client.get("/api/state")).json()
    assert state["last_checkin"]["name"] == "张三"
    assert state["uplink"]["pending"] == 2  # meeting.start + checkin wait for the hub

    await kiosk.hall.handle_reader_event(FingerMatched(slot=5))
    assert "张三，已签到" in (await kiosk.client.get("/")).text


@pytest.mark.parametrize(
    ("event", "text"),
    [
        (NotRecognised(), "未识别，请重试或换一个手指"),
        (FingerMatched(slot=99), "非本支部党员"),
        (PoorImage(), "请把手指放平"),
        (ReaderFault(), "读卡器故障，请联系工作人员"),
    ],
)
async def test_reader_prompts(kiosk: Kiosk, event: object, text: str) -> None:
    await kiosk.hall.desk.start_meeting("committee", "月度例会")
    await kiosk.hall.handle_reader_event(event)
    assert text in (await kiosk.client.get("/")).text


async def test_reader_fault_clears_on_reconnect(kiosk: Kiosk) -> None:
    await kiosk.hall.desk.start_meeting("committee", "月度例会")
    await kiosk.hall.handle_reader_event(ReaderFault())
    assert (await kiosk.client.get("/api/state")).json()["reader"]["status"] == "fault"
    await kiosk.hall.handle_reader_event(ReaderReconnected())
    state = (await kiosk.client.get("/api/state")).json()
    assert state["reader"]["status"] == "ready" and state["prompt"]["code"] == "press_finger"


async def test_transient_prompt_falls_back_to_resting(kiosk: Kiosk) -> None:
    now = [1000.0]
    kiosk.hall.clock = lambda: now[0]
    await kiosk.hall.desk.start_meeting("committee", "月度例会")
    await kiosk.hall.handle_reader_event(NotRecognised())
    assert kiosk.hall.prompt()[0].value == "not_recognised"
    now[0] += kiosk.hall.prompt_hold_s + 1
    assert kiosk.hall.prompt()[0].value == "press_finger"


async def test_admin_needs_the_pin(kiosk: Kiosk) -> None:
    r = await kiosk.client.post("/api/admin/meeting/start",
                                json={"meeting_type": "theme_day", "topic": "x"})
    assert r.status_code == 401 and "PIN" in r.json()["error"] and r.json()["code"] == "admin_locked"
    r = await kiosk.client.post("/api/admin/login", json={"pin": "000000"})
    assert r.status_code == 401 and r.json()["code"] == "wrong_pin"
    for _ in range(4):
        await kiosk.client.post("/api/admin/login", json={"pin": "111111"})
    r = await kiosk.client.post("/api/admin/login", json={"pin": "246810"})
    assert r.status_code == 429 and r.json()["code"] == "pin_locked"  # locked after five wrong PINs


def test_every_refusal_the_kiosk_can_name_has_chinese_words() -> None:
    """The kiosk shows an error by its code; each code the agent raises has a
    Chinese text (the English detail is for the log)."""
    import re
    from pathlib import Path

    from devices.kiosk.texts import ERROR_CODES, PROMPTS

    root = Path(__file__).resolve().parents[3] / "devices"
    raised = set()
    for path in [*root.glob("agent/*.py"), root / "kiosk" / "app.py"]:
        text = path.read_text(encoding="utf-8")
        raised |= set(re.findall(r'MeetingError\([^\n]*, "([a-z_]+)"\)', text))
        raised |= set(re.findall(r'_error\(\d+, [^\n]*?"([a-z_]+)"\)', text))
        raised |= set(re.findall(r'default_code = "([a-z_]+)"', (root / "agent" / "errors.py").read_text()))
    assert {"wrong_pin", "pin_locked", "meeting_already_open", "leave_reason_required"} <= raised
    for code in raised:
        zh = ERROR_CODES.get(code, PROMPTS.get(code, ("", "")))[0]
        assert re.search(r"[\u4e00-\u9fff]", zh), f"no Chinese text for the kiosk error code {code!r}"


async def test_admin_meeting_staff_check_in_and_enrolment(kiosk: Kiosk) -> None:
    await kiosk.login()
    r = await kiosk.client.post("/api/admin/meeting/start",
                                json={"meeting_type": "general_meeting", "topic": "发展党员"})
    assert r.status_code == 201
    r = await kiosk.client.post("/api/admin/meeting/start",
                                json={"meeting_type": "general_meeting", "topic": "again"})
    assert r.status_code == 409 and "already open" in r.json()["error"]
    assert r.json()["code"] == "meeting_already_open"

    r = await kiosk.client.post("/api/admin/checkin", json={"member_id": "12"})
    assert r.status_code == 409 and r.json()["outcome"] == "reason_required"
    r = await kiosk.client.post("/api/admin/checkin",
                                json={"member_id": "12", "reason": "手指磨损无法识别"})
    assert r.status_code == 201
    page = (await kiosk.client.get("/")).text
    assert "李四" in page and "代签" in page
    [checkin] = [m for m in await kiosk.hall.outbox.pending() if m.type == "checkin"]
    assert checkin.fields["member_id"] == 12  # echoed as the hub sent it
    assert checkin.fields["method"] == "staff" and checkin.fields["reason"] == "手指磨损无法识别"

    r = await kiosk.client.post("/api/admin/enrol", json={"member_id": "11"})
    assert r.status_code == 201
    slot = r.json()["slot"]
    assert kiosk.reader.enrolled == [slot] and kiosk.hall.slots.member_for(slot) == "11"
    assert kiosk.hall.prompt()[0].value == "enrol_done"
    members = (await kiosk.client.get("/api/admin/members")).json()
    assert [m["slots"] for m in members if m["id"] == "11"] == [[slot]]

    await kiosk.hall.handle_reader_event(FingerMatched(slot=slot))
    assert "张三，签到成功" in (await kiosk.client.get("/")).text

    assert (await kiosk.client.post("/api/admin/meeting/end")).status_code == 200
    assert "当前没有会议" in (await kiosk.client.get("/")).text
