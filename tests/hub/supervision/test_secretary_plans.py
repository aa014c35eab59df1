"""The plan review round trip as the branch and its township live it: the
branch secretary files, the township returns with a reason, the secretary
resubmits, the township approves; the state machine refuses every other
step; in-app messages reach the secretary's inbox and only theirs."""

from __future__ import annotations

import itertools

import pytest
from fastapi.testclient import TestClient

from hub.errors import Conflict
from hub.supervision.plans.models import STATUSES
from hub.supervision.plans.service import TRANSITIONS, next_status
from tests.hub.conftest import OPERATOR_PASSWORD, County, login

ITEMS = [{"meeting_type": "theme_day", "planned_date": "2024-03-05", "topic": "学习新修订的纪律处分条例", "form": "集中学习"},
         {"meeting_type": "committee", "planned_date": "2024-03-12", "topic": "研究春耕互助安排", "form": "会议"}]


def test_the_state_machine_is_the_table_and_nothing_else() -> None:
    actions = ("revise", "approve", "return")
    assert {s for s, _ in TRANSITIONS} | set(TRANSITIONS.values()) <= set(STATUSES)
    for status, action in itertools.product(STATUSES, actions):
        if (status, action) in TRANSITIONS:
            assert next_status(status, action) == TRANSITIONS[(status, action)]
        else:
            with pytest.raises(Conflict):
                next_status(status, action)
    # The round trip of the issue: returned -> resubmitted -> (returned again | approved).
    assert next_status("returned", "revise") == "resubmitted"
    assert next_status("resubmitted", "return") == "returned" and next_status("resubmitted", "approve") == "approved"
    with pytest.raises(Conflict) as final:
        next_status("approved", "revise")
    assert final.value.code == "plan_approved"


def make_secretary(client: TestClient, county: County, branch: str, username: str) -> dict[str, str]:
    r = client.post("/api/v1/operators", headers=county.operators["东城镇"], json={
        "username": username, "password": OPERATOR_PASSWORD, "role": "branch_secretary", "scope_id": county.branches[branch],
        "display_name": f"{branch}书记"})
    assert r.status_code == 201, r.text
    return login(client, username, OPERATOR_PASSWORD)


def test_secretary_files_township_returns_secretary_resubmits(client: TestClient, county: County) -> None:
    sec = make_secretary(client, county, "东城一村", "sec1")
    other = make_secretary(client, county, "东城二村", "sec2")
    dc = county.operators["东城镇"]
    b = county.branches["东城一村"]
    # A vague topic is refused item by item, with codes the dashboard words itself.
    vague = [*ITEMS, {"meeting_type": "party_lecture", "planned_date": "2024-03-20", "topic": "学习", "form": "党课"}]
    r = client.post("/api/v1/supervision/plans", headers=sec, json={"branch_id": b, "kind": "monthly", "year": 2024,
                                                                     "month": 3, "items": vague})
    assert r.status_code == 422 and r.json()["code"] == "plan_items_invalid", r.text
    assert r.json()["problems"] == [{"item": 3, "problem": "topic_vague"}]
    r = client.post("/api/v1/supervision/plans", headers=sec, json={"branch_id": b, "kind": "monthly", "year": 2024,
                                                                     "month": 3, "items": ITEMS})
    assert r.status_code == 201 and r.json()["status"] == "submitted", r.text
    pid = r.json()["id"]
    # The secretary cannot review its own plan; the township's queue shows it.
    r = client.post(f"/api/v1/supervision/plans/{pid}/review", headers=sec, json={"decision": "approve"})
    assert r.status_code == 403, r.text
    queue = client.get("/api/v1/supervision/plans", headers=dc, params={"status": "awaiting"}).json()
    assert [p["id"] for p in queue] == [pid]
    r = client.post(f"/api/v1/supervision/plans/{pid}/review", headers=dc, json={"decision": "return"})
    assert r.status_code == 422 and r.json()["code"] == "plan_return_reason_required"
    r = client.post(f"/api/v1/supervision/plans/{pid}/review", headers=dc,
                    json={"decision": "return", "reason": "支委会形式不明确"})
    assert r.json()["status"] == "returned"
    # The secretary sees the reason in its inbox; the sibling branch's secretary sees nothing.
    inbox = client.get("/api/v1/supervision/notifications/inbox", headers=sec).json()
    assert [(n["kind"], n["channel"]) for n in inbox] == [("plan_returned", "app")]
    assert "支委会形式不明确" in inbox[0]["text"] and inbox[0]["read_at"] is None
    assert client.get("/api/v1/supervision/notifications/inbox", headers=other).json() == []
    assert client.post(f"/api/v1/supervision/notifications/{inbox[0]['id']}/read", headers=other).status_code == 404
    r = client.post(f"/api/v1/supervision/notifications/{inbox[0]['id']}/read", headers=sec)
    assert r.status_code == 200 and r.json()["status"] == "read"
    assert client.get("/api/v1/supervision/notifications/inbox", headers=sec, params={"unread": True}).json() == []
    assert client.get(f"/api/v1/supervision/plans/{pid}", headers=other).status_code == 404
    # Resubmission: a new revision, back in the township's queue.
    items = [dict(i) for i in ITEMS]
    items[1]["form"] = "专题讨论并表决"
    r = client.put(f"/api/v1/supervision/plans/{pid}/items", headers=sec, json={"items": items})
    assert (r.json()["status"], r.json()["revision"]) == ("resubmitted", 2), r.text
    assert [p["id"] for p in client.get("/api/v1/supervision/plans", headers=dc, params={"status": "awaiting"}).json()] == [pid]
    r = client.post(f"/api/v1/supervision/plans/{pid}/review", headers=dc, json={"decision": "approve"})
    assert r.json()["status"] == "approved"
    assert [(x["revision"], x["decision"]) for x in r.json()["reviews"]] == [(1, "returned"), (2, "approved")]
    r = client.put(f"/api/v1/supervision/plans/{pid}/items", headers=sec, json={"items": items})
    assert r.status_code == 409 and r.json()["code"] == "plan_approved"
    assert [n["kind"] for n in client.get("/api/v1/supervision/notifications/inbox", headers=sec).json()] == [
        "plan_approved", "plan_returned"]


def test_in_app_messages_to_the_branch_reach_its_secretaries(client: TestClient, county: County) -> None:
    sec = make_secretary(client, county, "东城一村", "sec1")
    dc = county.operators["东城镇"]
    b = county.branches["东城一村"]
    r = client.post("/api/v1/supervision/notifications/reminder", headers=dc, json={"branch_id": b, "text": "请提交下月计划"})
    assert r.status_code == 201 and r.json()["created"] == 2  # 张三 (committee) and the secretary's inbox
    r = client.post("/api/v1/rectifications", headers=dc, json={
        "branch_id": b, "problem": "三会一课记录不全", "measures": "补齐记录", "deadline": "2099-01-01", "responsible": "张三"})
    assert r.status_code == 201, r.text
    item = r.json()["id"]
    inbox = client.get("/api/v1/supervision/notifications/inbox", headers=sec).json()
    assert [n["kind"] for n in inbox] == ["rectification", "reminder"]
    assert "三会一课记录不全" in inbox[0]["text"]
    # The secretary uploads evidence for its branch's item, and sees it in the ledger.
    r = client.post(f"/api/v1/rectifications/{item}/evidence", headers=sec,
                    files={"file": ("记录本.jpg", b"\xff\xd8\xff\xe0 jpeg", "image/jpeg")})
    assert r.status_code == 201 and r.json()["uploaded_by"] == "sec1", r.text
    ledger = client.get("/api/v1/rectifications", headers=sec).json()
    assert [(i["id"], len(i["evidence"])) for i in ledger] == [(item, 1)]
    # It cannot close (销号) the item: that is the township's verification.
    assert client.post(f"/api/v1/rectifications/{item}/close", headers=sec, json={}).status_code == 403


def test_a_published_notice_reaches_the_secretaries_of_the_branches_it_names(client: TestClient, county: County) -> None:
    from datetime import date, timedelta

    from hub.supervision.rectification.models import RectificationItem
    from tests.hub.supervision.conftest import sessions

    east = make_secretary(client, county, "东城一村", "sec1")
    quiet = make_secretary(client, county, "东城二村", "sec2")
    r = client.post("/api/v1/rectifications", headers=county.operators["东城镇"], json={
        "branch_id": county.branches["东城一村"], "problem": "党费收缴不及时", "measures": "按月收缴", "deadline": "2099-01-01",
        "responsible": "张三"})
    item = r.json()["id"]
    long_ago = date.today() - timedelta(days=20)
    with sessions(client)() as s:
        s.get(RectificationItem, item).deadline = long_ago  # type: ignore[union-attr]
        s.commit()
    r = client.post("/api/v1/supervision/notices", headers=county.admin,
                    json={"period_start": str(long_ago - timedelta(days=5)), "period_end": str(date.today())})
    assert r.status_code == 201, r.text
    notice = r.json()["id"]
    assert [n["kind"] for n in client.get("/api/v1/supervision/notifications/inbox", headers=east).json()] == ["rectification"]
    r = client.post(f"/api/v1/supervision/notices/{notice}/publish", headers=county.admin)
    assert r.status_code == 200, r.text
    assert [n["kind"] for n in client.get("/api/v1/supervision/notifications/inbox", headers=east).json()] == [
        "notice", "rectification"]
    assert client.get("/api/v1/supervision/notifications/inbox", headers=quiet).json() == []
    # The secretary reads the published notice, its own branch's lines only.
    seen = client.get(f"/api/v1/supervision/notices/{notice}", headers=east).json()
    assert [i["item_id"] for i in seen["items"]] == [item]
