"""The administration endpoints the dashboard's admin pages use: the unit
tree (rename, move, deactivate), bad roster rows corrected and sent again,
scheduled meetings edited and cancelled, the audit trail filtered and
exported, the fleet with each hall's health."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from fastapi.testclient import TestClient

from hub.audit.labels import ACTIONS
from hub.supervision.plans.models import STATUSES as PLAN_STATUSES
from tests.hub.conftest import County


def test_units_rename_move_deactivate_within_the_operators_area(client: TestClient, county: County) -> None:
    admin, town_op = county.admin, county.operators["东城镇"]
    east, west = county.townships["东城镇"], county.townships["西山乡"]
    branch = county.branches["东城二村"]
    r = client.patch(f"/api/v1/org-units/{branch}", headers=town_op, json={"name": "东城二村党支部"})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "东城二村党支部"
    # A township operator cannot move a branch out of its township, nor change the township itself.
    r = client.patch(f"/api/v1/org-units/{branch}", headers=town_op, json={"parent_id": west})
    assert r.status_code == 404, r.text
    r = client.patch(f"/api/v1/org-units/{east}", headers=town_op, json={"name": "改名"})
    assert (r.status_code, r.json()["code"]) == (403, "own_scope")
    # The county moves it; the subtree's paths follow.
    r = client.patch(f"/api/v1/org-units/{branch}", headers=admin, json={"parent_id": west})
    assert r.status_code == 200, r.text
    assert r.json()["path"].startswith(client.get(f"/api/v1/org-units/{west}", headers=admin).json()["path"])
    assert client.get(f"/api/v1/org-units/{branch}", headers=town_op).status_code == 404
    r = client.patch(f"/api/v1/org-units/{west}", headers=admin, json={"parent_id": branch})
    assert r.json()["code"] in ("unit_cycle", "unit_kind_not_allowed"), r.text
    # Deactivation: refused while active units sit under it; then nothing new goes under it.
    r = client.patch(f"/api/v1/org-units/{east}", headers=admin, json={"active": False})
    assert (r.status_code, r.json()["code"]) == (409, "unit_has_active_children")
    r = client.patch(f"/api/v1/org-units/{county.branches['东城一村']}", headers=admin, json={"active": False})
    assert r.status_code == 200 and r.json()["active"] is False
    r = client.patch(f"/api/v1/org-units/{east}", headers=admin, json={"active": False})
    assert r.status_code == 200, r.text
    r = client.post("/api/v1/org-units", headers=admin, json={"name": "新村", "kind": "branch", "parent_id": east})
    assert (r.status_code, r.json()["code"]) == (422, "unit_inactive")
    actions = [e["action"] for e in client.get("/api/v1/audit", headers=admin).json()]
    assert {"org_unit_updated", "org_unit_moved", "org_unit_deactivated"} <= set(actions)


def test_bad_roster_rows_come_back_with_code_field_values_and_can_be_sent_again(
        client: TestClient, county: County) -> None:
    branch = county.branches["东城二村"]
    data = "姓名,党员编号,手机,类别,支委职务\n刘一,R001,138,正式,书记\n,R002,,正式,\n陈三,R003,坏号码,预备,\n".encode()
    r = client.post(f"/api/v1/branches/{branch}/roster", headers=county.admin, files={"file": ("r.csv", data)})
    report = r.json()
    assert report["created"] == 1
    bad = {e["row"]: e for e in report["errors"]}
    assert (bad[3]["code"], bad[3]["field"], bad[3]["values"]["member_no"]) == ("name_empty", "name", "R002")
    assert (bad[4]["code"], bad[4]["field"], bad[4]["values"]["phone"]) == ("phone_invalid", "phone", "坏号码")
    fixed = [{"row": 3, "values": {**bad[3]["values"], "name": "王二"}},
             {"row": 4, "values": {**bad[4]["values"], "phone": "x"}}]  # row 4 still wrong
    r = client.post(f"/api/v1/branches/{branch}/roster/rows", headers=county.admin, json={"rows": fixed})
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 1
    assert [(e["row"], e["code"]) for e in r.json()["errors"]] == [(4, "phone_invalid")]
    fixed[1]["values"]["phone"] = "13800000003"
    r = client.post(f"/api/v1/branches/{branch}/roster/rows", headers=county.admin, json={"rows": fixed[1:]})
    assert (r.json()["created"], r.json()["errors"]) == (1, [])
    members = {m["member_no"]: m for m in client.get(f"/api/v1/branches/{branch}/members", headers=county.admin).json()}
    assert set(members) == {"R001", "R002", "R003"}
    assert members["R001"]["committee"] is True and members["R001"]["committee_role"] == "书记"
    assert members["R003"]["status"] == "probationary"
    r = client.post(f"/api/v1/branches/{branch}/roster", headers=county.admin, files={"file": ("r.csv", "名字\n甲\n".encode())})
    assert (r.status_code, r.json()["code"]) == (422, "roster_file")
    # Other townships' operators cannot send rows into this branch.
    r = client.post(f"/api/v1/branches/{branch}/roster/rows", headers=county.operators["西山乡"], json={"rows": fixed})
    assert r.status_code == 404


def test_scheduled_meeting_is_edited_then_cancelled_and_then_frozen(client: TestClient, county: County) -> None:
    branch = county.branches["东城一村"]
    r = client.post(f"/api/v1/branches/{branch}/meetings", headers=county.admin, json={
        "meeting_type": "theme_day", "topic": "主题党日", "scheduled_start": "2030-01-05T01:00:00Z"})
    meeting = r.json()["id"]
    r = client.patch(f"/api/v1/meetings/{meeting}", headers=county.operators["东城镇"],
                     json={"topic": "学习党章", "scheduled_start": "2030-01-06T01:00:00Z"})
    assert r.status_code == 200, r.text
    assert r.json()["topic"] == "学习党章" and r.json()["scheduled_start"].startswith("2030-01-06T01:00")
    r = client.patch(f"/api/v1/meetings/{meeting}", headers=county.admin, json={"scheduled_end": "2030-01-06T00:00:00Z"})
    assert (r.status_code, r.json()["code"]) == (422, "meeting_end_before_start")
    r = client.patch(f"/api/v1/meetings/{meeting}", headers=county.operators["西山乡"], json={"topic": "x"})
    assert r.status_code == 404
    r = client.post(f"/api/v1/meetings/{meeting}/cancel", headers=county.admin, json={"reason": "村里停电"})
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    r = client.patch(f"/api/v1/meetings/{meeting}", headers=county.admin, json={"topic": "again"})
    assert (r.status_code, r.json()["code"]) == (409, "meeting_not_scheduled")
    assert client.get(f"/api/v1/meetings/{meeting}", headers=county.admin).json()["topic"] == "学习党章"


def test_audit_filters_by_who_what_where_when_and_exports_csv(client: TestClient, county: County) -> None:
    town_op = county.operators["东城镇"]
    client.patch(f"/api/v1/members/{county.members['李四']}", headers=town_op, json={"phone": "13900000000"})
    client.patch(f"/api/v1/members/{county.members['孙七']}", headers=county.admin, json={"phone": "13900000001"})
    entries = client.get("/api/v1/audit", headers=county.admin, params={"action": "member_updated"}).json()
    assert {e["actor"] for e in entries} == {"dongcheng", "admin"}
    mine = client.get("/api/v1/audit", headers=county.admin, params={"actor": "dongcheng", "action": "member_updated"}).json()
    assert [e["branch_id"] for e in mine] == [county.branches["东城一村"]]
    west = client.get("/api/v1/audit", headers=county.admin, params={"unit_id": county.townships["西山乡"],
                                                                      "action": "member_updated"}).json()
    assert [e["actor"] for e in west] == ["admin"]
    at = entries[0]["at"]
    assert client.get("/api/v1/audit", headers=county.admin, params={"since": at, "action": "member_updated"}).json()
    assert client.get("/api/v1/audit", headers=county.admin, params={"until": "2000-01-01T00:00:00Z"}).json() == []
    # A township operator filtering by another township's unit sees nothing of it.
    r = client.get("/api/v1/audit", headers=town_op, params={"unit_id": county.townships["西山乡"]})
    assert r.status_code == 404
    assert "member_updated" in client.get("/api/v1/audit/actions", headers=county.admin).json()
    r = client.get("/api/v1/audit/export.csv", headers=county.admin, params={"action": "member_updated"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert len(rows) == 3 and {rows[1][1], rows[2][1]} == {"dongcheng", "admin"}
    exported = client.get("/api/v1/audit", headers=county.admin, params={"action": "audit_exported"}).json()
    assert exported and exported[0]["action_zh"] == "导出审计日志"


def test_audit_in_words_with_the_codes_kept(client: TestClient, county: County) -> None:
    """The audit page and its CSV say what happened in Chinese (English on the
    English page); the action code and the raw detail stay for IT."""
    r = client.post(f"/api/v1/branches/{county.branches['东城一村']}/members", headers=county.admin,
                    json={"name": "新党员", "member_no": "N900", "status": "probationary", "excused": True,
                          "excused_reason": "长期卧床"})
    assert r.status_code == 201, r.text
    [entry] = [e for e in client.get("/api/v1/audit", headers=county.admin, params={"action": "member_created"}).json()
               if e["detail"].get("member_no") == "N900"]
    assert (entry["action"], entry["action_zh"], entry["action_en"]) == ("member_created", "新增党员", "Member added")
    assert entry["detail"]["excused_reason"] == "长期卧床"  # the machine's detail, unchanged
    assert "免计原因：长期卧床" in entry["detail_zh"] and "免计到会人数：是" in entry["detail_zh"]
    assert "{" not in entry["detail_zh"] and '"' not in entry["detail_zh"]
    assert "excused reason: 长期卧床" in entry["detail_en"]
    labels = client.get("/api/v1/audit/action-labels", headers=county.admin).json()
    assert {"code": "member_created", "zh": "新增党员", "en": "Member added"} in labels
    r = client.get("/api/v1/audit/export.csv", headers=county.admin, params={"action": "member_created"})
    header, row = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))[:2]  # newest first
    assert header[2] == "操作 action" and header[7] == "操作代码 action code"
    assert row[2] == "新增党员" and row[7] == "member_created"
    assert "免计原因：长期卧床" in row[6] and "{" not in row[6]
    assert json.loads(row[8])["excused_reason"] == "长期卧床"


def test_every_audited_action_has_words() -> None:
    """An action recorded anywhere in the hub has its Chinese and English
    words (hub/audit/labels.py): a new one without them fails here."""
    root = Path(__file__).resolve().parents[2] / "hub"
    found: set[str] = set()
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        found |= set(re.findall(r'action="([a-z_.]+)"', text))
        found |= set(re.findall(r'"((?:recording|media)\.[a-z_.]+)"', text))
        lines = text.splitlines()
        for i, line in enumerate(lines):  # action = "a" if ... else ("b" if ... else "c")
            if re.match(r"\s*action = ", line):
                found |= set(re.findall(r'(?:= |else \(?\s*)"([a-z_.]+)"', line + lines[i + 1]))
    found |= {f"plan_{s}" for s in PLAN_STATUSES}  # action=f"plan_{plan.status}"
    found.discard("store_true")  # argparse, not an audit action
    assert len(found) > 50
    assert sorted(found - set(ACTIONS)) == []


def test_fleet_lists_each_hall_with_online_and_health_fields(client: TestClient, county: County) -> None:
    fleet = client.get("/api/v1/fleet", headers=county.admin).json()
    assert {d["branch_name"] for d in fleet["devices"]} == {"东城一村", "西山一村"}
    for d in fleet["devices"]:
        assert d["online"] is False and d["health"] == {}
