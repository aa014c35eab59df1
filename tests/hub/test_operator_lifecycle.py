"""Operator lifecycle through the API: create, change role and area,
deactivate, reset and change passwords; generated and reset passwords must
be changed at the first sign-in; who may manage whom; all audited."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from hub.app import create_app
from tests.hub.conftest import OPERATOR_PASSWORD, County, login, make_settings


def test_generated_first_admin_password_must_be_changed(tmp_path: Path, sqlite_url: str,
                                                        caplog: object) -> None:
    settings = make_settings(tmp_path, sqlite_url)
    settings.admin_password = None
    app = create_app(settings)
    logged = "\n".join(r.getMessage() for r in caplog.records)  # type: ignore[attr-defined]
    password = logged.split("password '")[1].split("'")[0]
    with TestClient(app) as client:
        h = login(client, "admin", password)
        me = client.get("/api/v1/auth/me", headers=h)
        assert me.status_code == 200 and me.json()["must_change_password"] is True
        for method, path in (("GET", "/api/v1/org-units"), ("GET", "/api/v1/operators"),
                             ("POST", "/api/v1/auth/socket-ticket"), ("GET", "/api/v1/wall/snapshot")):
            r = client.request(method, path, headers=h)
            assert r.status_code == 403 and r.json()["code"] == "password_change_required", (path, r.text)
        r = client.post("/api/v1/auth/password", headers=h, json={"current_password": "nope-nope",
                                                                   "new_password": "a-new-password"})
        assert r.status_code == 403 and r.json()["code"] == "wrong_password"
        r = client.post("/api/v1/auth/password", headers=h, json={"current_password": password,
                                                                   "new_password": "a-new-password"})
        assert r.status_code == 204, r.text
        assert client.get("/api/v1/org-units", headers=h).status_code == 200  # this session goes on
        assert login(client, "admin", "a-new-password")
        assert client.post("/api/v1/auth/login", json={"username": "admin", "password": password}).status_code == 401


def ids(client: TestClient, admin: dict[str, str]) -> dict[str, int]:
    return {o["username"]: o["id"] for o in client.get("/api/v1/operators", headers=admin).json()}


def test_county_admin_manages_operators(client: TestClient, county: County) -> None:
    admin = county.admin
    east_id = ids(client, admin)["dongcheng"]
    east = county.operators["东城镇"]
    # Reset: a generated password, old sessions end, a change is required.
    r = client.post(f"/api/v1/operators/{east_id}/password-reset", headers=admin)
    assert r.status_code == 200, r.text
    temporary = r.json()["password"]
    assert client.get("/api/v1/auth/me", headers=east).status_code == 401
    east = login(client, "dongcheng", temporary)
    assert client.get("/api/v1/meetings", headers=east).json()["code"] == "password_change_required"
    assert client.post("/api/v1/auth/password", headers=east, json={
        "current_password": temporary, "new_password": "east-own-pw-1"}).status_code == 204
    assert client.get("/api/v1/meetings", headers=east).status_code == 200
    # A new area and role.
    r = client.patch(f"/api/v1/operators/{east_id}", headers=admin,
                     json={"role": "viewer", "scope_id": county.townships["西山乡"], "display_name": "改派"})
    assert r.status_code == 200 and r.json()["role"] == "viewer", r.text
    assert client.get("/api/v1/auth/me", headers=east).status_code == 401  # the old rights are gone
    east = login(client, "dongcheng", "east-own-pw-1")
    assert client.get("/api/v1/auth/me", headers=east).json()["scope_id"] == county.townships["西山乡"]
    # Deactivation: no more sign-ins; reactivation restores them.
    assert client.patch(f"/api/v1/operators/{east_id}", headers=admin, json={"active": False}).status_code == 200
    assert client.get("/api/v1/auth/me", headers=east).status_code == 401
    assert client.post("/api/v1/auth/login", json={"username": "dongcheng", "password": "east-own-pw-1"}).status_code == 401
    assert client.patch(f"/api/v1/operators/{east_id}", headers=admin, json={"active": True}).status_code == 200
    assert login(client, "dongcheng", "east-own-pw-1")
    # An admin cannot lock itself out.
    admin_id = ids(client, admin)["admin"]
    r = client.patch(f"/api/v1/operators/{admin_id}", headers=admin, json={"active": False})
    assert r.status_code == 403 and r.json()["code"] == "self_change_refused"
    # Every step is in the audit trail.
    actions = [e["action"] for e in client.get("/api/v1/audit", headers=admin, params={"limit": 500}).json()]
    for action in ("operator_password_reset", "password_changed", "operator_updated", "operator_deactivated"):
        assert action in actions, action


def test_township_operator_manages_only_viewers_of_its_township(client: TestClient, county: County) -> None:
    east = county.operators["东城镇"]
    town = county.townships["东城镇"]
    r = client.post("/api/v1/operators", headers=east, json={
        "username": "eastviewer", "password": OPERATOR_PASSWORD, "role": "viewer", "scope_id": town,
        "must_change_password": True})
    assert r.status_code == 201, r.text
    viewer_id = r.json()["id"]
    for role, scope in (("township_operator", town), ("county_admin", town), ("viewer", county.townships["西山乡"])):
        r = client.post("/api/v1/operators", headers=east, json={
            "username": f"x{role[:4]}{scope}", "password": OPERATOR_PASSWORD, "role": role, "scope_id": scope})
        assert r.status_code in (403, 404), (role, scope, r.text)
    assert {o["username"] for o in client.get("/api/v1/operators", headers=east).json()} == {"dongcheng", "eastviewer"}
    # Its viewer: yes (below its role); itself, its peers and admins: no.
    r = client.post(f"/api/v1/operators/{viewer_id}/password-reset", headers=east)
    assert r.status_code == 200
    temporary = r.json()["password"]
    ids_ = ids(client, county.admin)
    for target in ("dongcheng", "xishan", "admin"):
        r = client.patch(f"/api/v1/operators/{ids_[target]}", headers=east, json={"display_name": "x"})
        assert r.status_code in (403, 404), (target, r.text)
    r = client.patch(f"/api/v1/operators/{viewer_id}", headers=east, json={"role": "township_operator"})
    assert r.status_code == 403
    # The new viewer must pick a password first, and then may only read.
    viewer = login(client, "eastviewer", temporary)
    assert client.get("/api/v1/meetings", headers=viewer).json()["code"] == "password_change_required"
    assert client.post("/api/v1/auth/password", headers=viewer, json={
        "current_password": temporary, "new_password": "viewer-own-pw"}).status_code == 204
    assert client.get("/api/v1/meetings", headers=viewer).status_code == 200
    r = client.post(f"/api/v1/branches/{county.branches['东城一村']}/members", headers=viewer, json={})
    assert r.status_code == 403 and r.json()["code"] == "operator_role_required"
