"""Hub test fixtures: an app from the real factory, and a small county."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.app import create_app
from hub.config import Settings

ADMIN_PASSWORD = "county-admin-pw"
OPERATOR_PASSWORD = "operator-pw-123"


def make_settings(tmp_path: Path, db_url: str, **extra: object) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=db_url, admin_password=ADMIN_PASSWORD,
                    media={"enabled": False}, **extra)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return make_settings(tmp_path, db_url)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


def login(client: TestClient, username: str, password: str) -> dict[str, str]:
    r = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    client.cookies.clear()  # tests pass tokens explicitly, per operator
    return {"Authorization": f"Bearer {r.json()['token']}"}


@dataclass
class County:
    admin: dict[str, str]
    townships: dict[str, int] = field(default_factory=dict)
    branches: dict[str, int] = field(default_factory=dict)
    members: dict[str, int] = field(default_factory=dict)
    operators: dict[str, dict[str, str]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)


def build_county(client: TestClient) -> County:
    """Two townships (东城镇, 西山乡), two branches each, a few members, a
    township operator for each township, a device for branch 东城一村."""
    admin = login(client, "admin", ADMIN_PASSWORD)
    county = County(admin=admin)
    root = client.get("/api/v1/org-units", headers=admin).json()[0]["id"]
    for t in ("东城镇", "西山乡"):
        county.townships[t] = client.post("/api/v1/org-units", headers=admin, json={"name": t, "kind": "township", "parent_id": root}).json()["id"]
    for b, t in (("东城一村", "东城镇"), ("东城二村", "东城镇"), ("西山一村", "西山乡"), ("西山二村", "西山乡")):
        r = client.post("/api/v1/org-units", headers=admin, json={"name": b, "kind": "branch", "parent_id": county.townships[t]})
        assert r.status_code == 201, r.text
        county.branches[b] = r.json()["id"]
    people = [
        ("张三", "D001", "东城一村", "full", False, True),
        ("李四", "D002", "东城一村", "full", False, False),
        ("王五", "D003", "东城一村", "probationary", False, False),
        ("赵六", "D004", "东城一村", "full", True, False),
        ("孙七", "W001", "西山一村", "full", False, True),
    ]
    for name, no, branch, status, excused, committee in people:
        body = {"name": name, "member_no": no, "status": status, "excused": excused, "committee": committee}
        if excused:
            body["excused_reason"] = "长期卧床"
        r = client.post(f"/api/v1/branches/{county.branches[branch]}/members", headers=admin, json=body)
        assert r.status_code == 201, r.text
        county.members[name] = r.json()["id"]
    for t, user in (("东城镇", "dongcheng"), ("西山乡", "xishan")):
        r = client.post("/api/v1/operators", headers=admin, json={
            "username": user, "password": OPERATOR_PASSWORD, "role": "township_operator", "scope_id": county.townships[t]})
        assert r.status_code == 201, r.text
        county.operators[t] = login(client, user, OPERATOR_PASSWORD)
    county.tokens["东城一村"] = enrol_device(client, admin, county.branches["东城一村"])
    county.tokens["西山一村"] = enrol_device(client, admin, county.branches["西山一村"])
    return county


def enrol_device(client: TestClient, headers: dict[str, str], branch_id: int) -> str:
    r = client.post(f"/api/v1/branches/{branch_id}/devices", headers=headers, json={"name": "大厅一体机"})
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/devices/enrol", json={"code": r.json()["enrolment_code"]})
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


@pytest.fixture
def county(client: TestClient) -> County:
    return build_county(client)
