"""The rectification ledger, overdue items into a notice, XLSX exports."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select

from hub.audit.models import AuditEntry
from hub.supervision.common import today
from hub.supervision.config import SupervisionSettings
from hub.supervision.rectification.models import RectificationItem
from tests.hub.conftest import County
from tests.hub.supervision.conftest import add_meeting, local, sessions

# The hub's day is the county's (UTC+8 by default), not this machine's: from 16:00 UTC they differ.
TODAY = today(SupervisionSettings().utc_offset_hours)


@pytest.fixture(autouse=True)
def _county_today() -> None:
    """"Today" in county time when each test runs, not when the module was
    imported: a suite that crosses the county's midnight (16:00 UTC) passes."""
    global TODAY
    TODAY = today(SupervisionSettings().utc_offset_hours)


def body(county: County, branch: str = "东城一村", **extra: object) -> dict:
    return {"branch_id": county.branches[branch], "problem": "三会一课记录本未及时填写", "measures": "补记并由支部书记签字",
            "deadline": str(TODAY + timedelta(days=10)), "responsible": "刘书记", **extra}


def backdate(client: TestClient, item_id: int, deadline: date) -> None:
    """Time passes: the item's deadline now lies in the past."""
    with sessions(client)() as s:
        item = s.get(RectificationItem, item_id)
        assert item is not None
        item.deadline = deadline
        s.commit()


def test_dashboard_post_exactly_as_specified(client: TestClient, county: County) -> None:
    b = county.branches["东城一村"]
    with sessions(client)() as s:
        m = add_meeting(s, branch_id=b, meeting_type="theme_day", start=local(2025, 3, 5), minutes=90)
        s.commit()
    r = client.post("/api/v1/rectifications", headers=county.operators["东城镇"],
                    json=body(county, evidence_meeting_id=m.id, evidence_at=754.5))
    assert r.status_code == 201, r.text
    item = r.json()
    assert (item["status"], item["evidence_meeting_id"], item["evidence_offset_s"]) == ("open", m.id, 754.5)
    assert item["branch_name"] == "东城一村" and item["source"] == "video_inspection" and item["overdue"] is False
    # The moment may be given as a time instead of an offset.
    at = (local(2025, 3, 5) + timedelta(minutes=2)).isoformat()
    r = client.post("/api/v1/rectifications", headers=county.admin, json=body(county, evidence_meeting_id=m.id, evidence_at=at))
    assert r.status_code == 201 and r.json()["evidence_offset_s"] == 120.0
    r = client.post("/api/v1/rectifications", headers=county.admin, json=body(county, evidence_meeting_id=m.id, evidence_at=99999))
    assert r.status_code == 422 and "after the meeting ended" in r.json()["detail"]
    r = client.post("/api/v1/rectifications", headers=county.admin, json=body(county, "西山一村", evidence_meeting_id=m.id))
    assert r.status_code == 422 and "not a meeting of this branch" in r.json()["detail"]
    r = client.post("/api/v1/rectifications", headers=county.admin, json=body(county, colour="red"))
    assert r.status_code == 422


def test_bad_input_saves_nothing(client: TestClient, county: County) -> None:
    r = client.post("/api/v1/rectifications", headers=county.admin, json=body(county, deadline=str(TODAY - timedelta(days=1))))
    assert r.status_code == 422 and r.json()["code"] == "deadline_past"
    assert "already past" in r.json()["detail"] and "choose today or a later date" in r.json()["detail"]
    r = client.post("/api/v1/rectifications", headers=county.admin, json=body(county, deadline="2025-13-01"))
    assert r.status_code == 422
    r = client.post("/api/v1/rectifications", headers=county.admin, json={**body(county), "branch_id": county.townships["东城镇"]})
    assert r.status_code == 422 and "is not a branch" in r.json()["detail"]
    with sessions(client)() as s:
        assert s.scalar(select(func.count()).select_from(RectificationItem)) == 0


def test_close_update_evidence_and_scope(client: TestClient, county: County, settings) -> None:
    dc, xs = county.operators["东城镇"], county.operators["西山乡"]
    item = client.post("/api/v1/rectifications", headers=dc, json=body(county)).json()
    iid = item["id"]
    # Another township: cannot see it, change it, close it or attach to it.
    assert client.get(f"/api/v1/rectifications/{iid}", headers=xs).status_code == 404
    assert client.patch(f"/api/v1/rectifications/{iid}", headers=xs, json={"responsible": "x"}).status_code == 404
    assert client.post(f"/api/v1/rectifications/{iid}/close", headers=xs, json={}).status_code == 404
    assert client.post(f"/api/v1/rectifications/{iid}/evidence", headers=xs, files={"file": ("a.jpg", b"x", "image/jpeg")}).status_code == 404
    assert client.get("/api/v1/rectifications", headers=xs).json() == []
    assert client.post("/api/v1/rectifications", headers=xs, json=body(county)).status_code == 404
    # Evidence: a photo stored under the data directory.
    photo = b"\xff\xd8\xff\xe0fake-jpeg" * 10
    r = client.post(f"/api/v1/rectifications/{iid}/evidence", headers=dc, files={"file": ("整改后照片.jpg", photo, "image/jpeg")})
    assert r.status_code == 201, r.text
    ev = r.json()
    stored = list((settings.data_dir / "supervision" / "evidence" / str(iid)).iterdir())
    assert len(stored) == 1 and stored[0].read_bytes() == photo
    got = client.get(f"/api/v1/rectifications/{iid}/evidence/{ev['id']}", headers=dc)
    assert got.status_code == 200 and got.content == photo
    r = client.post(f"/api/v1/rectifications/{iid}/evidence", headers=dc, files={"file": ("x.exe", b"MZ", "application/x-msdownload")})
    assert r.status_code == 422 and "not accepted" in r.json()["detail"]
    # Edit, then close (销号) with the verifier recorded.
    r = client.patch(f"/api/v1/rectifications/{iid}", headers=dc, json={"deadline": str(TODAY - timedelta(days=3))})
    assert r.status_code == 422
    r = client.patch(f"/api/v1/rectifications/{iid}", headers=dc, json={"responsible": "王委员"})
    assert r.json()["responsible"] == "王委员"
    r = client.post(f"/api/v1/rectifications/{iid}/close", headers=dc, json={"closed_on": str(TODAY + timedelta(days=1))})
    assert r.status_code == 422 and "in the future" in r.json()["detail"]
    r = client.post(f"/api/v1/rectifications/{iid}/close", headers=dc, json={"note": "已补记"})
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["closed_on"], r.json()["verified_by"]) == ("closed", str(TODAY), "dongcheng")
    assert client.post(f"/api/v1/rectifications/{iid}/close", headers=dc, json={}).status_code == 409
    assert client.patch(f"/api/v1/rectifications/{iid}", headers=dc, json={"responsible": "x"}).status_code == 409
    with sessions(client)() as s:
        actions = set(s.scalars(select(AuditEntry.action).where(AuditEntry.target == f"rectification:{iid}")))
    assert {"rectification_opened", "rectification_evidence_added", "rectification_updated", "rectification_closed"} <= actions


def test_ledger_export_cell_by_cell(client: TestClient, county: County) -> None:
    a = client.post("/api/v1/rectifications", headers=county.admin, json=body(county)).json()
    client.post("/api/v1/rectifications", headers=county.admin, json=body(county, "西山一村", problem="主题党日未按时开展",
                                                                               measures="下月5日前补开", responsible="陈书记"))
    client.post(f"/api/v1/rectifications/{a['id']}/close", headers=county.admin, json={})
    r = client.get("/api/v1/rectifications/export.xlsx", headers=county.admin)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    ws = load_workbook(io.BytesIO(r.content)).active
    assert ws.title == "整改台账"
    assert [c.value for c in ws[1]] == ["党组织名称", "整改事项", "整改措施", "整改时限", "责任人", "完成销号时间"]
    row2, row3 = [c.value for c in ws[2]], [c.value for c in ws[3]]
    deadline = datetime.combine(TODAY + timedelta(days=10), datetime.min.time())
    assert row2 == ["东城一村", "三会一课记录本未及时填写", "补记并由支部书记签字", deadline, "刘书记",
                    datetime.combine(TODAY, datetime.min.time())]
    assert row3 == ["西山一村", "主题党日未按时开展", "下月5日前补开", deadline, "陈书记", None]
    assert ws.cell(2, 4).number_format == "yyyy-mm-dd"
    assert ws.max_row == 3
    # A township's export holds only its own rows.
    r = client.get("/api/v1/rectifications/export.xlsx", headers=county.operators["西山乡"])
    ws = load_workbook(io.BytesIO(r.content)).active
    assert [ws.cell(i, 1).value for i in range(2, ws.max_row + 1)] == ["西山一村"]
    with sessions(client)() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "rectification_exported")) == 2


def test_overdue_items_into_a_published_notice(client: TestClient, county: County) -> None:
    dc, xs = county.operators["东城镇"], county.operators["西山乡"]
    late_open = client.post("/api/v1/rectifications", headers=dc, json=body(county)).json()["id"]
    late_closed = client.post("/api/v1/rectifications", headers=dc, json=body(county, "东城二村", problem="党费收缴不及时")).json()["id"]
    on_time = client.post("/api/v1/rectifications", headers=dc, json=body(county, problem="标识牌破损")).json()["id"]
    west = client.post("/api/v1/rectifications", headers=xs, json=body(county, "西山一村", problem="直播设备离线")).json()["id"]
    d = TODAY - timedelta(days=20)
    for iid in (late_open, late_closed, on_time, west):
        backdate(client, iid, d)
    with sessions(client)() as s:
        s.get(RectificationItem, late_closed).closed_on = d + timedelta(days=4)  # closed, but four days late
        s.get(RectificationItem, late_closed).status = "closed"
        s.get(RectificationItem, on_time).closed_on = d
        s.get(RectificationItem, on_time).status = "closed"
        s.commit()
    overdue = client.get("/api/v1/rectifications", headers=dc, params={"overdue": True}).json()
    assert {i["id"] for i in overdue} == {late_open, late_closed}
    start, end = str(TODAY - timedelta(days=30)), str(TODAY)
    r = client.post("/api/v1/supervision/notices", headers=county.admin, json={"period_start": start, "period_end": end})
    assert r.status_code == 201, r.text
    notice = r.json()
    assert notice["status"] == "draft"
    assert {i["item_id"]: i["days_overdue"] for i in notice["items"]} == {late_open: 20, late_closed: 4, west: 20}
    # Publishing is for the county; a township sees only its own lines.
    assert client.post(f"/api/v1/supervision/notices/{notice['id']}/publish", headers=dc).status_code == 403
    r = client.post(f"/api/v1/supervision/notices/{notice['id']}/publish", headers=county.admin)
    assert r.status_code == 200 and r.json()["status"] == "published"
    assert client.post(f"/api/v1/supervision/notices/{notice['id']}/publish", headers=county.admin).status_code == 409
    seen = client.get(f"/api/v1/supervision/notices/{notice['id']}", headers=xs).json()
    assert [i["item_id"] for i in seen["items"]] == [west]
    r = client.get(f"/api/v1/supervision/notices/{notice['id']}/export.xlsx", headers=county.admin)
    ws = load_workbook(io.BytesIO(r.content)).active
    assert [c.value for c in ws[1]] == ["序号", "党组织名称", "整改事项", "整改时限", "责任人", "逾期天数", "完成销号时间"]
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=2)]
    assert [r_[0] for r_ in rows] == [1, 2, 3]
    assert sorted((r_[1], r_[5]) for r_ in rows) == [("东城一村", 20), ("东城二村", 4), ("西山一村", 20)]
    # A township's draft covers its own area only; nothing overdue = a clear refusal.
    r = client.post("/api/v1/supervision/notices", headers=xs, json={"period_start": str(TODAY - timedelta(days=5)), "period_end": end})
    assert r.status_code == 422 and r.json()["code"] == "nothing_overdue"
    r = client.post("/api/v1/supervision/notices", headers=xs, json={"period_start": start, "period_end": end})
    assert [i["branch_name"] for i in r.json()["items"]] == ["西山一村"]
    assert client.get(f"/api/v1/supervision/notices/{r.json()['id']}", headers=dc).status_code == 404
