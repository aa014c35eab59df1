"""The login limiter protects without locking out: per address and per
account with exponential backoff, the right password from a known-good
address still works while an attacker hammers the account, and
X-Forwarded-For counts only from `trusted_proxies` (real uvicorn server)."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from hub.auth.ratelimit import LoginLimiter
from tests.hub.conftest import ADMIN_PASSWORD, County, login, make_settings
from tests.hub.liveserver import LiveHub


def test_backoff_doubles_and_is_forgiven_after_a_quiet_spell() -> None:
    now = [1000.0]
    limiter = LoginLimiter(3, base_seconds=60, max_seconds=600, clock=lambda: now[0])
    for _ in range(2):
        limiter.failed("addr:a")
    assert limiter.retry_after("addr:a") == 0
    limiter.failed("addr:a")
    assert limiter.retry_after("addr:a") == 60
    now[0] += 61
    limiter.failed("addr:a")  # the first failure after a block doubles it
    assert limiter.retry_after("addr:a") == 120
    now[0] += 121
    limiter.failed("addr:a")
    assert limiter.retry_after("addr:a") == 240
    assert limiter.retry_after("addr:b") == 0  # other keys are untouched
    now[0] += 240 + 601
    limiter.failed("addr:a")  # forgiven: counts from scratch
    assert limiter.retry_after("addr:a") == 0


def failed_logins(http: httpx.Client, count: int, username: str = "admin",
                  xff: str | None = None) -> list[int]:
    codes = []
    for i in range(count):
        headers = {"X-Forwarded-For": xff or f"203.0.113.{i % 250 + 1}"}
        codes.append(http.post("/api/v1/auth/login", headers=headers,
                               json={"username": username, "password": "wrong-password"}).status_code)
    return codes


def audit_addresses(http: httpx.Client, headers: dict[str, str]) -> set[str | None]:
    r = http.get("/api/v1/audit", params={"limit": 2000}, headers=headers)
    assert r.status_code == 200, r.text
    return {e["address"] for e in r.json() if e["action"].startswith("login")}


def test_rotating_x_forwarded_for_does_not_bypass_the_address_limit(tmp_path: Path, sqlite_url: str) -> None:
    # Default settings: no trusted proxy, so 127.0.0.1's X-Forwarded-For means nothing.
    with LiveHub(make_settings(tmp_path, sqlite_url)) as hub, httpx.Client(base_url=hub.url) as http:
        r = http.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD},
                      headers={"X-Forwarded-For": "198.51.100.7"})
        assert r.status_code == 200
        admin = {"Authorization": f"Bearer {r.json()['token']}"}
        http.cookies.clear()
        codes = failed_logins(http, 14, username="nobody-here")
        assert codes[:10] == [401] * 10 and codes[10:] == [429] * 4, codes
        addresses = audit_addresses(http, admin)
        assert addresses == {"127.0.0.1"}, addresses  # no made-up address in the audit trail


def test_the_right_password_from_a_known_address_works_while_the_account_is_hammered(
        tmp_path: Path, sqlite_url: str) -> None:
    settings = make_settings(tmp_path, sqlite_url, trusted_proxies=["127.0.0.1"])
    with LiveHub(settings) as hub, httpx.Client(base_url=hub.url) as http:
        good = {"X-Forwarded-For": "10.0.0.1"}
        r = http.post("/api/v1/auth/login", headers=good, json={"username": "admin", "password": ADMIN_PASSWORD})
        assert r.status_code == 200  # 10.0.0.1 is now a known-good address of admin
        http.cookies.clear()
        # An attacker from many addresses (through the trusted proxy) hammers admin.
        codes = failed_logins(http, 30)
        assert 429 in codes, codes
        # From a new address even the right password waits ...
        r = http.post("/api/v1/auth/login", headers={"X-Forwarded-For": "10.0.0.99"},
                      json={"username": "admin", "password": ADMIN_PASSWORD})
        assert r.status_code == 429 and int(r.json()["retry_after"]) > 0
        # ... but the county admin at the usual desk signs in.
        r = http.post("/api/v1/auth/login", headers=good, json={"username": "admin", "password": ADMIN_PASSWORD})
        assert r.status_code == 200, r.text
        admin = {"Authorization": f"Bearer {r.json()['token']}"}
        http.cookies.clear()
        addresses = audit_addresses(http, admin)
        assert "10.0.0.1" in addresses and "203.0.113.1" in addresses and "127.0.0.1" not in addresses


def test_enrolment_codes_are_rate_limited_per_address(client: TestClient, county: County) -> None:
    branch = county.branches["东城二村"]
    r = client.post(f"/api/v1/branches/{branch}/devices", headers=county.admin, json={"name": "一体机"})
    code = r.json()["enrolment_code"]
    codes = [client.post("/api/v1/devices/enrol", json={"code": f"ZZZZ-ZZ{i:02d}"}).status_code for i in range(12)]
    assert codes[:10] == [401] * 10 and codes[10:] == [429] * 2, codes
    r = client.post("/api/v1/devices/enrol", json={"code": code})
    assert r.status_code == 429 and "Wait" in r.json()["detail"]
    assert login(client, "admin", ADMIN_PASSWORD)  # sign-ins are a separate limit
