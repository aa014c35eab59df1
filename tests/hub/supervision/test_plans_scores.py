"""Plan review round trip, plan against actual; score sheets, totals, rankings."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select

from hub.supervision.common import today
from hub.supervision.config import SupervisionSettings
from hub.supervision.plans.models import MeetingPlan
from hub.supervision.rectification.models import RectificationItem
from hub.supervision.scoresheets.models import Inspection
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


def plan_body(county: County, branch: str = "东城一村", **extra: object) -> dict:
    return {"branch_id": county.branches[branch], "kind": "monthly", "year": 2024, "month": 3, "items": [
        {"meeting_type": "theme_day", "planned_date": "2024-03-05", "topic": "学习新修订的纪律处分条例", "form": "集中学习"},
        {"meeting_type": "committee", "planned_date": "2024-03-12", "topic": "研究春耕互助安排", "form": "专题讨论"},
    ], **extra}


def test_plan_review_round_trip_and_plan_against_actual(client: TestClient, county: County) -> None:
    dc, xs = county.operators["东城镇"], county.operators["西山乡"]
    r = client.post("/api/v1/supervision/plans", headers=dc, json=plan_body(county))
    assert r.status_code == 201, r.text
    plan = r.json()
    assert (plan["status"], plan["revision"], len(plan["items"])) == ("submitted", 1, 2)
    pid = plan["id"]
    # Another township cannot see or review it.
    assert client.get(f"/api/v1/supervision/plans/{pid}", headers=xs).status_code == 404
    r = client.post(f"/api/v1/supervision/plans/{pid}/review", headers=xs, json={"decision": "approve"})
    assert r.status_code == 404 and "outside your area" in r.json()["detail"]
    assert client.post("/api/v1/supervision/plans", headers=xs, json=plan_body(county, month=4)).status_code == 404
    # Returned without a reason: refused. With one: back to the branch.
    r = client.post(f"/api/v1/supervision/plans/{pid}/review", headers=dc, json={"decision": "return"})
    assert r.status_code == 422 and "Say why" in r.json()["detail"]
    r = client.post(f"/api/v1/supervision/plans/{pid}/review", headers=dc, json={"decision": "return", "reason": "支委会形式不明确"})
    assert (r.json()["status"], r.json()["return_reason"]) == ("returned", "支委会形式不明确")
    assert client.post(f"/api/v1/supervision/plans/{pid}/review", headers=dc, json={"decision": "approve"}).status_code == 409
    items = plan_body(county)["items"]
    items[1]["form"] = "专题讨论并表决"
    r = client.put(f"/api/v1/supervision/plans/{pid}/items", headers=dc, json={"items": items})
    assert (r.json()["status"], r.json()["revision"]) == ("resubmitted", 2)
    r = client.post(f"/api/v1/supervision/plans/{pid}/review", headers=county.admin, json={"decision": "approve"})
    assert r.json()["status"] == "approved"
    assert [(x["revision"], x["decision"]) for x in r.json()["reviews"]] == [(1, "returned"), (2, "approved")]
    assert client.put(f"/api/v1/supervision/plans/{pid}/items", headers=dc, json={"items": items}).status_code == 409
    assert client.post("/api/v1/supervision/plans", headers=dc, json=plan_body(county)).status_code == 409
    # Against what happened: the theme day was held, the committee was not, and a lecture nobody planned.
    b = county.branches["东城一村"]
    with sessions(client)() as s:
        held = add_meeting(s, branch_id=b, meeting_type="theme_day", start=local(2024, 3, 5))
        extra = add_meeting(s, branch_id=b, meeting_type="party_lecture", start=local(2024, 3, 20))
        s.commit()
    r = client.get(f"/api/v1/supervision/plans/{pid}/vs-actual", headers=dc).json()
    assert (r["planned"], r["held"]) == (2, 1)
    rows = {(x["meeting_type"], x["status"]): x for x in r["rows"]}
    assert rows[("theme_day", "held")]["meeting_id"] == held.id
    assert ("committee", "not_held") in rows
    assert rows[("party_lecture", "unplanned")]["meeting_id"] == extra.id


def test_a_bad_plan_is_refused_whole(client: TestClient, county: County) -> None:
    dc = county.operators["东城镇"]
    bad = plan_body(county)
    bad["items"].append({"meeting_type": "committee", "planned_date": "2024-04-02", "topic": "开会", "form": "会议"})
    r = client.post("/api/v1/supervision/plans", headers=dc, json=bad)
    assert r.status_code == 422
    assert "item 3: 2024-04-02 is outside the plan's period 2024-03" in r.json()["detail"]
    assert "item 3: the topic '开会' is too vague" in r.json()["detail"]
    r = client.post("/api/v1/supervision/plans", headers=dc, json=plan_body(county, kind="annual"))
    assert r.status_code == 422 and "no month" in r.json()["detail"]
    with sessions(client)() as s:
        assert s.scalar(select(func.count()).select_from(MeetingPlan)) == 0


def sheet(client: TestClient, county: County) -> dict:
    templates = client.get("/api/v1/supervision/score-templates", headers=county.admin).json()
    assert len(templates) == 1
    return templates[0]


def inspect(client: TestClient, county: County, branch: str, deductions: list[tuple[int, float]], headers=None, **extra: object):
    return client.post("/api/v1/supervision/inspections", headers=headers or county.admin, json={
        "template_id": sheet(client, county)["id"], "branch_id": county.branches[branch], "group_name": "第一督查组",
        "inspected_on": str(TODAY - timedelta(days=1)),
        "scores": [{"item_id": i, "deduction": d, "reason": "台账不全"} for i, d in deductions], **extra})


def test_shipped_sheet_has_the_five_categories(client: TestClient, county: County) -> None:
    t = sheet(client, county)
    assert [(c["name"], c["max_points"]) for c in t["categories"]] == [
        ("党建基础", 25), ("组织建设", 30), ("党员管理", 20), ("活动开展", 15), ("工作保障", 10)]
    assert t["max_total"] == 100
    for c in t["categories"]:
        assert sum(i["max_points"] for i in c["items"]) == c["max_points"]
    r = client.post("/api/v1/supervision/score-templates", headers=county.admin, json={
        "name": "错表", "categories": [{"name": "党建基础", "max_points": 25, "items": [{"name": "a", "max_points": 20}]}]})
    assert r.status_code == 422 and "add up to 20, not its 25 points" in r.json()["detail"]
    assert client.post("/api/v1/supervision/score-templates", headers=county.operators["东城镇"], json={
        "name": "x", "categories": [{"name": "a", "max_points": 1, "items": [{"name": "a", "max_points": 1}]}]}).status_code == 403


def test_scores_totals_rankings_and_rectification_from_a_deduction(client: TestClient, county: County) -> None:
    t = sheet(client, county)
    items = [i for c in t["categories"] for i in c["items"]]
    big = items[0]  # 8 points
    # Above the item's maximum: refused, nothing saved.
    r = inspect(client, county, "东城一村", [(items[1]["id"], 2)], scores=[
        {"item_id": items[1]["id"], "deduction": 2, "reason": "x"},
        {"item_id": big["id"], "score": big["max_points"] + 1, "reason": ""}])
    assert r.status_code == 422 and r.json()["code"] == "score_above_max"
    assert f"above the item's maximum of {big['max_points']:g} points" in r.json()["detail"]
    r = inspect(client, county, "东城一村", [], scores=[{"item_id": big["id"], "deduction": 1}])
    assert r.status_code == 422 and "say why" in r.json()["detail"]
    deadline = str(TODAY + timedelta(days=30))
    r = inspect(client, county, "东城一村", [], scores=[
        {"item_id": big["id"], "deduction": 3, "reason": "标识牌破损",
         "rectification": {"measures": "更换标识牌", "deadline": str(TODAY - timedelta(days=1)), "responsible": "刘书记"}}])
    assert r.status_code == 422 and r.json()["code"] == "deadline_past"
    with sessions(client)() as s:
        assert s.scalar(select(func.count()).select_from(Inspection)) == 0
        assert s.scalar(select(func.count()).select_from(RectificationItem)) == 0
    # Good sheets: totals per category and overall.
    r = inspect(client, county, "东城一村", [], scores=[
        {"item_id": big["id"], "score": 5, "reason": "标识牌破损",
         "rectification": {"measures": "更换标识牌", "deadline": deadline, "responsible": "刘书记"}},
        {"item_id": items[5]["id"], "deduction": 2.5, "reason": "三会一课记录不全"}])
    assert r.status_code == 201, r.text
    a = r.json()
    assert a["total"] == 94.5 and a["max_total"] == 100
    cats = {c["name"]: (c["deducted"], c["score"]) for c in a["categories"]}
    assert cats["党建基础"] == (3, 22) and cats["组织建设"] == (2.5, 27.5) and cats["工作保障"] == (0, 10)
    rect_id = next(d["rectification_id"] for d in a["deductions"] if d["item_id"] == big["id"])
    rect = client.get(f"/api/v1/rectifications/{rect_id}", headers=county.admin).json()
    assert rect["source"] == "score_deduction" and "标识牌破损" in rect["problem"] and "扣3分" in rect["problem"]
    assert inspect(client, county, "东城二村", [(items[0]["id"], 1), (items[2]["id"], 4.5)]).json()["total"] == 94.5
    assert inspect(client, county, "西山一村", [(items[3]["id"], 1)]).json()["total"] == 99
    assert inspect(client, county, "西山二村", [(items[3]["id"], 5), (items[4]["id"], 8)]).json()["total"] == 87
    # A second, later inspection of 西山二村 replaces the first in the ranking.
    assert inspect(client, county, "西山二村", [(items[4]["id"], 4)], headers=county.operators["西山乡"]).json()["total"] == 96
    params = {"template_id": t["id"], "since": str(TODAY - timedelta(days=30)), "until": str(TODAY)}
    ranks = client.get("/api/v1/supervision/rankings", headers=county.admin, params=params).json()
    assert [(x["branch_name"], x["total"], x["county_rank"], x["township_rank"]) for x in ranks] == [
        ("西山一村", 99, 1, 1), ("西山二村", 96, 2, 2), ("东城一村", 94.5, 3, 1), ("东城二村", 94.5, 3, 1)]
    own = client.get("/api/v1/supervision/rankings", headers=county.operators["东城镇"], params=params).json()
    assert [(x["branch_name"], x["county_rank"]) for x in own] == [("东城一村", 1), ("东城二村", 1)]
    r = client.get("/api/v1/supervision/rankings/export.xlsx", headers=county.admin, params=params)
    ws = load_workbook(io.BytesIO(r.content)).active
    assert [c.value for c in ws[1]] == ["排名", "乡镇排名", "乡镇（街道）", "党组织名称", "督查日期", "得分"]
    assert [c.value for c in ws[2]][:4] == [1, 1, "西山乡", "西山一村"] and ws.cell(2, 6).value == 99
    assert ws.cell(5, 6).value == 94.5 and ws.max_row == 5
    # Township scope on inspections.
    first = a["id"]
    assert client.get(f"/api/v1/supervision/inspections/{first}", headers=county.operators["西山乡"]).status_code == 404
    assert inspect(client, county, "东城一村", [], headers=county.operators["西山乡"]).status_code == 404
    assert {x["branch_name"] for x in client.get("/api/v1/supervision/inspections", headers=county.operators["西山乡"]).json()} == {"西山一村", "西山二村"}
