"""REST API: auth, scopes on every route, meetings, attendance, audit."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.hub.conftest import OPERATOR_PASSWORD, County, login


def test_login_wrong_password_is_401_with_problem_details(client: TestClient) -> None:
    r = client.post("/api/v1/auth/login", json={"username": "admin", "password": "nope"})
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "try again" in r.json()["detail"]


def test_login_is_rate_limited(client: TestClient) -> None:
    for _ in range(10):
        assert client.post("/api/v1/auth/login", json={"username": "admin", "password": "bad"}).status_code == 401
    r = client.post("/api/v1/auth/login", json={"username": "admin", "password": "bad"})
    assert r.status_code == 429
    assert "Wait" in r.json()["detail"]


def api_routes(client: TestClient) -> list[tuple[str, str]]:
    """Every (method, path) of the API, from its own OpenAPI document."""
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]  # /openapi.json needs a session
    return [(m.upper(), p) for p, ops in paths.items() for m in ops if p.startswith("/api/")]


def test_every_route_needs_a_session(client: TestClient) -> None:
    public = {"/api/v1/auth/login", "/api/v1/devices/enrol"}
    routes = api_routes(client)
    assert len(routes) > 20
    for method, route in routes:
        if route in public:
            continue
        r = client.request(method, re.sub(r"\{[^}]+\}", "1", route))
        assert r.status_code == 401, f"{method} {route} answered {r.status_code} without a session"



def test_township_operator_cannot_reach_another_township_on_any_route(client: TestClient, county: County) -> None:
    admin = county.admin
    west_branch = county.branches["西山一村"]
    west_member = county.members["孙七"]
    # A meeting and a device in the west township.
    r = client.post(f"/api/v1/branches/{west_branch}/meetings", headers=admin,
                    json={"meeting_type": "theme_day", "topic": "学习", "scheduled_start": "2026-12-05T01:00:00Z"})
    west_meeting = r.json()["id"]
    west_device = client.get(f"/api/v1/branches/{west_branch}/devices", headers=admin).json()[0]["id"]
    values = {"branch_id": west_branch, "unit_id": county.townships["西山乡"], "member_id": west_member,
              "meeting_id": west_meeting, "device_id": west_device, "slot": 1,
              "filename": "00000000-0000-4000-8000-000000000000.mp4", "ext": "mp4",
              "segment_id": "00000000-0000-4000-8000-000000000000",
              "operator_id": next(o["id"] for o in client.get("/api/v1/operators", headers=admin).json()
                                  if o["username"] == "xishan")}
    east = county.operators["东城镇"]
    bodies = {
        "members": {"name": "x", "member_no": "X1"}, "meetings": {"meeting_type": "committee", "scheduled_start": "2026-12-01T00:00:00Z"},
        "devices": {"name": "x"}, "checkins": {"member_id": west_member, "reason": "x"},
        "leave-requests": {"member_id": west_member, "reason": "x"}, "flagged": {"flagged": False},
        "roster/rows": {"rows": [{"row": 2, "values": {"name": "甲", "member_no": "Z9"}}]},
    }
    checked = 0
    for method, route in api_routes(client):
        names = re.findall(r"\{([^}]+)\}", route)
        if not names:
            continue
        if any(n not in values for n in names):
            # Supervision objects (plans, ledger items, inspections, spot
            # checks...): their scope is tested object by object in
            # tests/hub/supervision; every other route is tried here.
            assert route.startswith(("/api/v1/supervision/", "/api/v1/rectifications/")), route
            continue
        path = route
        for name in names:
            path = path.replace("{" + name + "}", str(values[name]))
        body = next((b for k, b in bodies.items() if route.endswith(k)), {})
        kwargs: dict = {"json": body} if method in ("POST", "PATCH", "PUT") else {}
        if route.endswith("/roster"):
            kwargs = {"files": {"file": ("r.csv", "姓名,党员编号\n甲,Z9\n".encode())}}
        r = client.request(method, path, headers=east, **kwargs)
        # 401 only from routes for devices (an operator's session is not a device token).
        assert r.status_code in (401, 403, 404), f"{method} {route} let an east operator in: {r.status_code} {r.text}"
        checked += 1
    assert checked >= 15
    # Lists are filtered, not refused.
    names = {u["name"] for u in client.get("/api/v1/org-units", headers=east).json()}
    assert "西山乡" not in names and "西山一村" not in names and "东城一村" in names
    assert all(m["branch_id"] != west_branch for m in client.get("/api/v1/meetings", headers=east).json())
    assert client.get("/api/v1/meetings", headers=admin).json()


def test_viewer_cannot_change_anything(client: TestClient, county: County) -> None:
    admin = county.admin
    r = client.post("/api/v1/operators", headers=admin, json={"username": "v1", "password": OPERATOR_PASSWORD, "role": "viewer",
                                                              "scope_id": county.townships["东城镇"]})
    assert r.status_code == 201
    viewer = login(client, "v1", OPERATOR_PASSWORD)
    branch = county.branches["东城一村"]
    assert client.get(f"/api/v1/branches/{branch}/members", headers=viewer).status_code == 200
    r = client.post(f"/api/v1/branches/{branch}/members", headers=viewer, json={"name": "x", "member_no": "V1"})
    assert r.status_code == 403


def test_meeting_quorum_and_staff_checkin(client: TestClient, county: County) -> None:
    east = county.operators["东城镇"]
    branch = county.branches["东城一村"]
    r = client.post(f"/api/v1/branches/{branch}/meetings", headers=east,
                    json={"meeting_type": "general_meeting", "topic": "季度大会", "scheduled_start": "2026-11-22T00:00:00Z"})
    assert r.status_code == 201, r.text
    mid = r.json()["id"]
    assert client.post(f"/api/v1/meetings/{mid}/start", headers=east).status_code == 200
    # Voting members: 张三, 李四 (王五 probationary, 赵六 excused) -> 2 expected, need 2.
    for name in ("张三", "王五"):
        r = client.post(f"/api/v1/meetings/{mid}/checkins", headers=east, json={"member_id": county.members[name], "reason": "指纹磨损"})
        assert r.status_code == 201, r.text
        assert r.json()["method"] == "staff" and r.json()["late"] is True  # scheduled long before now
    q = client.get(f"/api/v1/meetings/{mid}", headers=east).json()["quorum"]
    assert (q["expected"], q["present"], q["met"]) == (2, 1, False)
    client.post(f"/api/v1/meetings/{mid}/checkins", headers=east, json={"member_id": county.members["李四"], "reason": "指纹磨损"})
    assert client.get(f"/api/v1/meetings/{mid}", headers=east).json()["quorum"]["met"] is True
    again = client.post(f"/api/v1/meetings/{mid}/checkins", headers=east, json={"member_id": county.members["张三"], "reason": "x"})
    assert again.status_code == 409 and again.json()["code"] == "already_checked_in"
    other = client.post(f"/api/v1/meetings/{mid}/checkins", headers=county.admin, json={"member_id": county.members["孙七"], "reason": "x"})
    assert other.status_code == 422 and other.json()["code"] == "not_in_branch"
    rows = client.get(f"/api/v1/meetings/{mid}/attendance", headers=east).json()
    assert [row["name"] for row in rows] == ["张三", "王五", "李四"]
    leave = client.post(f"/api/v1/meetings/{mid}/leave-requests", headers=east, json={"member_id": county.members["赵六"], "reason": "住院"})
    assert leave.status_code == 201
    assert client.post(f"/api/v1/meetings/{mid}/end", headers=east).status_code == 200
    closed = client.post(f"/api/v1/meetings/{mid}/checkins", headers=east, json={"member_id": county.members["赵六"], "reason": "x"})
    assert closed.json()["code"] == "meeting_not_open"


def test_audit_log_records_logins_and_changes(client: TestClient, county: County) -> None:
    actions = {e["action"] for e in client.get("/api/v1/audit", headers=county.admin).json()}
    assert {"login", "org_unit_created", "member_created", "operator_created", "device_registered", "device_enrolled"} <= actions
    east_view = client.get("/api/v1/audit", headers=county.operators["东城镇"]).json()
    assert east_view and all(e["branch_id"] != county.branches["西山一村"] for e in east_view)


def test_validation_errors_say_which_field(client: TestClient, county: County) -> None:
    r = client.post(f"/api/v1/branches/{county.branches['东城一村']}/members", headers=county.admin, json={"name": "x"})
    assert r.status_code == 422
    assert "member_no" in r.json()["detail"]
    r = client.post(f"/api/v1/branches/{county.branches['东城一村']}/members", headers=county.admin,
                    json={"name": "x", "member_no": "E9", "excused": True})
    assert r.status_code == 422 and "reason" in r.json()["detail"]


def test_devices_enrolment_code_is_one_time_and_revocation_works(client: TestClient, county: County) -> None:
    admin = county.admin
    branch = county.branches["东城二村"]
    code = client.post(f"/api/v1/branches/{branch}/devices", headers=admin, json={"name": "k"}).json()["enrolment_code"]
    first = client.post("/api/v1/devices/enrol", json={"code": code.lower().replace("-", "")})
    assert first.status_code == 200
    second = client.post("/api/v1/devices/enrol", json={"code": code})
    assert second.status_code == 401 and "new code" in second.json()["detail"]
    device_id = first.json()["device_id"]
    assert client.post(f"/api/v1/devices/{device_id}/revoke", headers=admin).status_code == 200
