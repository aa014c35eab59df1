"""The role matrix, generated from the hub's own OpenAPI document plus the
media and socket routes, with the media plane ON:

- nobody: 401 on every route but sign-in and enrolment (never 404/400);
- a viewer: every write refused (403), whatever the body;
- a township operator: every touch of another township refused;
- a hall's device: every call outside its branch refused;
- a branch secretary: every touch of another branch refused (its sibling
  in the same township included), every write but its branch's paperwork
  refused, and no wall or live media even for its own branch."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse

from hub.app import create_app
from hub.auth.deps import SECRETARY_WRITES, VIEWER_WRITES
from hub.config import Settings
from tests.hub.conftest import (
    ADMIN_PASSWORD,
    OPERATOR_PASSWORD,
    County,
    build_county,
    enrol_device,
    login,
)

SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
PUBLIC = {("POST", "/api/v1/auth/login"), ("POST", "/api/v1/devices/enrol")}
EXTRA = [("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/redoc"), ("GET", "/metrics")]
SOCKETS = ["/ws/wall", "/ws/edge"]

# this year and the next: periods that begin after the branch was set up today are judged
THIS_YEAR = date.today().year


@pytest.fixture
def media_client(tmp_path: Path, db_url: str) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data", database_url=db_url, admin_password=ADMIN_PASSWORD,
                        media={"enabled": True, "ice_host_addresses": ["127.0.0.1"], "min_free_bytes": 0,
                               "stop_recording_free_bytes": 0})  # type: ignore[arg-type]
    with TestClient(create_app(settings)) as c:
        yield c


def all_routes(client: TestClient) -> list[tuple[str, str]]:
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    routes = [(m.upper(), p) for p, ops in paths.items() for m in ops]
    return routes + EXTRA


def fill(route: str, values: dict[str, object]) -> str:
    return re.sub(r"\{([^}]+)\}", lambda m: str(values.get(m.group(1), 1)), route)


def request(client: TestClient, method: str, path: str, headers: dict[str, str]) -> int:
    kwargs: dict = {}
    if method in ("POST", "PUT", "PATCH"):
        kwargs = {"json": {}}
    return client.request(method, path, headers=headers, **kwargs).status_code


def test_media_routes_are_in_the_matrix(media_client: TestClient) -> None:
    routes = {r for _, r in all_routes(media_client)}
    for needed in ("/whep/{branch_id}", "/whip/{branch_id}", "/api/v1/meetings/{meeting_id}/export.{ext}",
                   "/api/v1/meetings/{meeting_id}/recording/flagged"):
        assert needed in routes


def test_nobody_gets_401_everywhere(media_client: TestClient) -> None:
    client = media_client
    checked = 0
    for method, route in all_routes(client):
        if (method, route) in PUBLIC:
            continue
        status = request(client, method, fill(route, {"ext": "mp4", "filename": "x.mp4"}), {})
        assert status == 401, f"{method} {route} answered {status} without a session"
        checked += 1
    assert checked > 60
    for path in SOCKETS:
        with pytest.raises(WebSocketDenialResponse) as refused, client.websocket_connect(path):
            pass
        assert refused.value.status_code == 401, path


@pytest.fixture
def county(media_client: TestClient) -> County:
    return build_county(media_client)


def viewer_headers(client: TestClient, county: County) -> dict[str, str]:
    r = client.post("/api/v1/operators", headers=county.admin, json={
        "username": "viewer1", "password": OPERATOR_PASSWORD, "role": "viewer", "scope_id": county.townships["东城镇"]})
    assert r.status_code == 201, r.text
    return login(client, "viewer1", OPERATOR_PASSWORD)


def test_a_viewer_changes_nothing(media_client: TestClient, county: County) -> None:
    client = media_client
    viewer = viewer_headers(client, county)
    east = {"branch_id": county.branches["东城一村"], "unit_id": county.townships["东城镇"],
            "member_id": county.members["张三"], "ext": "mp4", "filename": "x.mp4"}
    checked = 0
    for method, route in all_routes(client):
        if method in ("GET", "HEAD") or (method, route) in VIEWER_WRITES:
            continue
        status = request(client, method, fill(route, east), viewer)
        assert status == 403, f"viewer: {method} {route} answered {status}"
        checked += 1
    assert checked > 40
    # Reads still work, and so does the wall.
    assert client.get(f"/api/v1/branches/{east['branch_id']}/members", headers=viewer).status_code == 200
    r = client.post("/api/v1/auth/socket-ticket", headers=viewer)
    with client.websocket_connect(f"/ws/wall?ticket={r.json()['ticket']}") as ws:
        assert ws.receive_json()["type"] == "snapshot"


def west_values(client: TestClient, county: County) -> dict[str, object]:
    admin = county.admin
    west_branch = county.branches["西山一村"]
    r = client.post(f"/api/v1/branches/{west_branch}/meetings", headers=admin,
                    json={"meeting_type": "theme_day", "topic": "学习", "scheduled_start": "2026-12-05T01:00:00Z"})
    assert r.status_code == 201, r.text
    return {"branch_id": west_branch, "unit_id": county.townships["西山乡"], "member_id": county.members["孙七"],
            "meeting_id": r.json()["id"], "slot": 1, "ext": "mp4", "filename": "x.mp4", "session_id": "x",
            "segment_id": "x",
            "device_id": client.get(f"/api/v1/branches/{west_branch}/devices", headers=admin).json()[0]["id"],
            "operator_id": next(o["id"] for o in client.get("/api/v1/operators", headers=admin).json()
                                if o["username"] == "xishan")}


# Valid bodies, so that a refusal is about scope, not about the body.
BODIES: dict[str, dict[str, object]] = {
    "members": {"name": "x", "member_no": "X1"},
    "meetings": {"meeting_type": "committee", "scheduled_start": "2026-12-01T00:00:00Z"},
    "devices": {"name": "x"}, "checkins": {"member_id": 1, "reason": "x"},
    "leave-requests": {"member_id": 1, "reason": "x"}, "flagged": {"flagged": True},
    "roster/rows": {"rows": [{"row": 2, "values": {"name": "甲", "member_no": "Z9"}}]},
}


def test_a_township_operator_and_a_device_cannot_touch_another_township(media_client: TestClient,
                                                                         county: County) -> None:
    client = media_client
    values = west_values(client, county)
    east = county.operators["东城镇"]
    device = {"Authorization": f"Bearer {county.tokens['东城一村']}"}
    checked = 0
    for method, route in all_routes(client):
        names = re.findall(r"\{([^}]+)\}", route)
        if not names or any(n not in values for n in names):
            # Supervision objects are scoped object by object in tests/hub/supervision.
            assert not names or route.startswith(("/api/v1/supervision/", "/api/v1/rectifications/")), route
            continue
        path = fill(route, values)
        body = next((b for k, b in BODIES.items() if route.endswith(k)), {})
        kwargs: dict = {"json": body} if method in ("POST", "PATCH", "PUT") else {}
        if route.endswith("/roster"):
            kwargs = {"files": {"file": ("r.csv", "姓名,党员编号\n甲,Z9\n".encode())}}
        sdp_headers = {"Content-Type": "application/sdp"} if route.startswith(("/whip/", "/whep/")) else {}
        if sdp_headers and method == "POST":
            kwargs = {"content": SDP}
        for who, headers in (("east operator", east), ("east device", device)):
            if who == "east device" and names == ["slot"]:
                continue  # a slot of the device's own branch's reader (its token names the branch)
            status = client.request(method, path, headers={**headers, **sdp_headers}, **kwargs).status_code
            assert status in (401, 403, 404), f"{who}: {method} {route} answered {status}"
        checked += 1
    assert checked > 25
    # The device's own calls outside its branch: publishing and uploading to the west branch.
    r = client.post(f"/whip/{values['branch_id']}", content=SDP, headers={**device, "Content-Type": "application/sdp"})
    assert r.status_code == 403, r.text
    r = client.put(f"/api/v1/branches/{values['branch_id']}/segments/x", content=b"x", headers=device)
    assert r.status_code == 403, r.text
    # An operator's session is not a device token, and a device token opens no wall.
    for path, headers in (("/ws/edge", east), ("/ws/wall", device)):
        with pytest.raises(WebSocketDenialResponse) as refused, client.websocket_connect(path, headers=headers):
            pass
        assert refused.value.status_code == 401, path


def test_whip_offers_without_dtls_or_ice_credentials_are_400(media_client: TestClient, county: County) -> None:
    client = media_client
    device = {"Authorization": f"Bearer {county.tokens['东城一村']}", "Content-Type": "application/sdp"}
    base = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
            "c=IN IP4 0.0.0.0\r\na=rtpmap:96 H264/90000\r\na=sendonly\r\n")
    fp = "a=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\n"
    ice = "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
    branch = county.branches["东城一村"]
    r = client.post(f"/whip/{branch}", content=(base + ice).encode(), headers=device)
    assert r.status_code == 400 and "a=fingerprint" in r.json()["detail"], r.text
    r = client.post(f"/whip/{branch}", content=(base + fp).encode(), headers=device)
    assert r.status_code == 400 and "a=ice-ufrag" in r.json()["detail"], r.text


PLAN_ITEMS = {"items": [{"meeting_type": "theme_day", "planned_date": "2026-11-05", "topic": "学习党章党规",
                         "form": "集中学习"}]}


def secretary_headers(client: TestClient, county: County) -> dict[str, str]:
    """The township operator creates the secretary of one of its branches,
    and no other kind of account for it."""
    east = county.operators["东城镇"]
    body = {"username": "shuji1", "password": OPERATOR_PASSWORD, "role": "branch_secretary",
            "display_name": "刘书记", "scope_id": county.branches["东城一村"]}
    for scope, status in ((county.branches["西山一村"], 404), (county.townships["东城镇"], 422)):
        r = client.post("/api/v1/operators", headers=east, json={**body, "scope_id": scope})
        assert r.status_code == status, r.text
    r = client.post("/api/v1/operators", headers=east, json=body)
    assert r.status_code == 201 and r.json()["role"] == "branch_secretary", r.text
    return login(client, "shuji1", OPERATOR_PASSWORD)


def sibling_values(client: TestClient, county: County) -> dict[str, object]:
    """Objects of 东城二村, the secretary's sibling branch in the same township."""
    admin = county.admin
    other = county.branches["东城二村"]
    r = client.post(f"/api/v1/branches/{other}/members", headers=admin, json={"name": "钱八", "member_no": "D201"})
    member = r.json()["id"]
    r = client.post(f"/api/v1/branches/{other}/meetings", headers=admin,
                    json={"meeting_type": "theme_day", "topic": "学习", "scheduled_start": "2026-12-05T01:00:00Z"})
    meeting = r.json()["id"]
    enrol_device(client, admin, other)
    plan = client.post("/api/v1/supervision/plans", headers=admin, json={
        "branch_id": other, "kind": "monthly", "year": 2026, "month": 12, "items": [
            {"meeting_type": "theme_day", "planned_date": "2026-12-05", "topic": "学习党章党规", "form": "集中学习"}]})
    item = client.post("/api/v1/rectifications", headers=admin, json={
        "branch_id": other, "problem": "记录本不全", "measures": "补齐记录", "deadline": "2099-01-01", "responsible": "钱八"})
    note = client.post("/api/v1/supervision/notifications/meeting-notice", headers=admin, json={"meeting_id": meeting})
    assert plan.status_code == item.status_code == note.status_code == 201, (plan.text, item.text, note.text)
    return {"branch_id": other, "unit_id": other, "member_id": member, "meeting_id": meeting, "slot": 1, "ext": "mp4",
            "filename": "x.mp4", "session_id": "x", "segment_id": "x",
            "device_id": client.get(f"/api/v1/branches/{other}/devices", headers=admin).json()[0]["id"],
            "operator_id": next(o["id"] for o in client.get("/api/v1/operators", headers=admin).json()
                                if o["username"] == "dongcheng"),
            "plan_id": plan.json()["id"], "item_id": item.json()["id"], "notification_id": note.json()["ids"][0]}


def test_a_branch_secretary_stays_in_its_branch_and_off_the_wall(media_client: TestClient, county: County) -> None:
    client = media_client
    secretary = secretary_headers(client, county)
    me = client.get("/api/v1/auth/me", headers=secretary).json()
    assert (me["role"], me["scope_id"]) == ("branch_secretary", county.branches["东城一村"])
    values = sibling_values(client, county)
    checked = 0
    for method, route in all_routes(client):
        names = re.findall(r"\{([^}]+)\}", route)
        if not names or any(n not in values for n in names):
            continue
        path = fill(route, values)
        body = next((b for k, b in {**BODIES, "items": PLAN_ITEMS}.items() if route.endswith(k)), {})
        kwargs: dict = {"json": body} if method in ("POST", "PATCH", "PUT") else {}
        if route.endswith("/evidence"):
            kwargs = {"files": {"file": ("p.jpg", b"jpeg", "image/jpeg")}}
        status = client.request(method, path, headers=secretary, **kwargs).status_code
        assert status in (401, 403, 404), f"secretary: {method} {route} answered {status}"
        checked += 1
    assert checked > 40
    r = client.post("/api/v1/supervision/plans", headers=secretary, json={
        "branch_id": values["branch_id"], "kind": "monthly", "year": 2026, "month": 11, **PLAN_ITEMS})
    assert r.status_code == 404, r.text
    # In its own branch: every write but its paperwork is refused, whatever the body.
    own = {"branch_id": county.branches["东城一村"], "unit_id": county.branches["东城一村"],
           "member_id": county.members["张三"], "ext": "mp4", "filename": "x.mp4"}
    refused = 0
    for method, route in all_routes(client):
        if method in ("GET", "HEAD") or (method, route) in SECRETARY_WRITES:
            continue
        r = client.request(method, fill(route, own), headers=secretary, **({"json": {}} if method != "DELETE" else {}))
        assert r.status_code == 403, f"secretary: {method} {route} answered {r.status_code}"
        refused += 1
    assert refused > 40
    # No wall, no hall picture, no live media, not even its own branch's.
    branch = county.branches["东城一村"]
    for method, path in (("GET", "/api/v1/wall/snapshot"), ("GET", f"/api/v1/branches/{branch}/thumbnail.jpg"),
                         ("POST", "/api/v1/auth/socket-ticket")):
        r = client.request(method, path, headers=secretary)
        assert r.status_code == 403, (path, r.text)
    r = client.post(f"/whep/{branch}", content=SDP, headers={**secretary, "Content-Type": "application/sdp"})
    assert r.status_code == 403 and r.json()["code"] == "branch_secretary_no_wall", r.text
    with pytest.raises(WebSocketDenialResponse) as denied, client.websocket_connect("/ws/wall", headers=secretary):
        pass
    assert denied.value.status_code == 403
    # What it may do: file its branch's plan, read its branch, plans, compliance, ledger and inbox; file leave.
    assert client.get(f"/api/v1/branches/{branch}/members", headers=secretary).status_code == 200
    r = client.post("/api/v1/supervision/plans", headers=secretary, json={
        "branch_id": branch, "kind": "monthly", "year": 2026, "month": 11, **PLAN_ITEMS})
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/rectifications", headers=county.admin, json={
        "branch_id": branch, "problem": "记录本不全", "measures": "补齐记录", "deadline": "2099-01-01", "responsible": "张三"})
    assert r.status_code == 201, r.text
    for path in ("/api/v1/supervision/plans", "/api/v1/rectifications", "/api/v1/supervision/notifications",
                 f"/api/v1/supervision/compliance?since={THIS_YEAR}-01-01&until={THIS_YEAR + 1}-12-31"):
        r = client.get(path, headers=secretary)
        assert r.status_code == 200, (path, r.text)
        rows = r.json()["cells"] if "compliance" in path else r.json()
        assert rows and {x["branch_id"] for x in rows} == {branch}, path
    r = client.post(f"/api/v1/branches/{branch}/meetings", headers=county.admin,
                    json={"meeting_type": "theme_day", "topic": "学习", "scheduled_start": "2026-12-05T01:00:00Z"})
    r = client.post(f"/api/v1/meetings/{r.json()['id']}/leave-requests", headers=secretary,
                    json={"member_id": county.members["李四"], "reason": "外出务工"})
    assert r.status_code == 201, r.text
    # Nor may it manage accounts or review a plan.
    assert client.get("/api/v1/operators", headers=secretary).status_code == 403
