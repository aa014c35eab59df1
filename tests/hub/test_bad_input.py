"""Every bad request gets a clean 4xx naming the field, on SQLite and on
PostgreSQL: the cases schemathesis found (and that need real ids to reach),
one by one."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

from tests.hub.conftest import County


def problem(r: object, status: int, *named: str) -> dict:
    body = r.json()  # type: ignore[attr-defined]
    assert r.status_code == status, r.text  # type: ignore[attr-defined]
    for word in named:
        assert word in body["detail"], body
    return body  # type: ignore[no-any-return]


@pytest.mark.parametrize("big", [2**31, 2**63, 10**30])
def test_ids_beyond_the_column_range(client: TestClient, county: County, big: int) -> None:
    admin = county.admin
    problem(client.get(f"/api/v1/members/{big}", headers=admin), 422, "member_id")
    problem(client.get(f"/api/v1/org-units/{big}", headers=admin), 422, "unit_id")
    problem(client.get("/api/v1/rectifications", headers=admin, params={"unit_id": big}), 422, "unit_id")
    r = client.post(f"/api/v1/branches/{county.branches['东城一村']}/members", headers=admin,
                    json={"name": "张", "member_no": "X1"})
    assert r.status_code == 201
    r = client.post("/api/v1/supervision/spot-checks", headers=admin,
                    json={"population": "households", "ledger_id": big, "sample_size": 1, "label": "x"})
    problem(r, 422, "ledger_id")


def test_negative_limit(client: TestClient, county: County) -> None:
    problem(client.get("/api/v1/audit", headers=county.admin, params={"limit": -1}), 422, "limit")
    problem(client.get("/api/v1/meetings", headers=county.admin, params={"limit": -5}), 422, "limit")


def test_strings_longer_than_their_columns(client: TestClient, county: County) -> None:
    admin, branch = county.admin, county.branches["东城一村"]
    problem(client.post(f"/api/v1/branches/{branch}/members", headers=admin,
                        json={"name": "张" * 101, "member_no": "L1"}), 422, "name")
    problem(client.post(f"/api/v1/branches/{branch}/members", headers=admin,
                        json={"name": "张", "member_no": "L1", "phone": "1" * 33}), 422, "phone")
    problem(client.patch(f"/api/v1/members/{county.members['张三']}", headers=admin,
                         json={"excused_reason": "病" * 201}), 422, "excused_reason")
    root = client.get("/api/v1/org-units", headers=admin).json()[0]["id"]
    problem(client.post("/api/v1/org-units", headers=admin,
                        json={"name": "乡", "kind": "township", "parent_id": root, "code": "c" * 65}), 422, "code")


def test_patch_member_with_null_for_a_required_field(client: TestClient, county: County) -> None:
    member = county.members["张三"]
    for field in ("active", "name", "excused"):
        problem(client.patch(f"/api/v1/members/{member}", headers=county.admin, json={field: None}), 422, field)
    r = client.patch(f"/api/v1/members/{member}", headers=county.admin, json={"phone": None})
    assert r.status_code == 200 and r.json()["phone"] is None


def test_spot_check_with_ledger_id_zero(client: TestClient, county: County) -> None:
    problem(client.post("/api/v1/supervision/spot-checks", headers=county.admin,
                        json={"population": "members", "ledger_id": 0, "sample_size": 1, "label": "x"}), 422, "ledger_id")
    # A ledger id with a members draw is ignored, not stored as a dangling reference.
    client.patch(f"/api/v1/members/{county.members['张三']}", headers=county.admin, json={"phone": "13800000000"})
    r = client.post("/api/v1/supervision/spot-checks", headers=county.admin,
                    json={"population": "members", "ledger_id": 12345, "sample_size": 1, "label": "x"})
    assert r.status_code == 201, r.text
    assert r.json()["ledger_id"] is None


def test_delete_a_draft_notice(client: TestClient, county: County) -> None:
    admin = county.admin
    r = client.post("/api/v1/rectifications", headers=admin, json={
        "branch_id": county.branches["东城一村"], "problem": "记录不全", "measures": "补记",
        "deadline": str(date.today() + timedelta(days=1)), "responsible": "刘书记"})
    assert r.status_code == 201, r.text
    item = r.json()["id"]
    from hub.supervision.rectification.models import RectificationItem

    with client.app.state.ctx.session_factory() as s:  # type: ignore[attr-defined]
        row = s.get(RectificationItem, item)
        row.deadline = date.today() - timedelta(days=3)
        s.commit()
    r = client.post("/api/v1/supervision/notices", headers=admin,
                    json={"period_start": str(date.today() - timedelta(days=30)), "period_end": str(date.today())})
    assert r.status_code == 201, r.text
    notice = r.json()
    assert notice["items"], notice
    r = client.delete(f"/api/v1/supervision/notices/{notice['id']}", headers=admin)
    assert r.status_code == 204, r.text
    assert client.get(f"/api/v1/supervision/notices/{notice['id']}", headers=admin).status_code == 404


def test_township_operator_cannot_create_a_county(client: TestClient, county: County) -> None:
    op = county.operators["东城镇"]
    town = county.townships["东城镇"]
    problem(client.post("/api/v1/org-units", headers=op, json={"name": "假县", "kind": "county", "parent_id": town}), 422, "kind")
    problem(client.post("/api/v1/org-units", headers=op, json={"name": "假乡", "kind": "township", "parent_id": town}), 422, "kind")
    r = client.post("/api/v1/org-units", headers=op, json={"name": "东城三村", "kind": "branch", "parent_id": town})
    assert r.status_code == 201, r.text
