"""Closed-network hygiene: security headers on every page, API docs served
by the hub itself and behind sign-in, /openapi.json and /metrics behind
sign-in (or a scrape token), Secure session cookies over HTTPS."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from hub.app import create_app
from tests.hub.conftest import ADMIN_PASSWORD, County, login, make_settings


def test_security_headers_on_every_page(client: TestClient) -> None:
    for path in ("/ui/", "/ui/js/shell/main.js", "/ui/supervision/", "/api/v1/auth/me", "/docs", "/no-such-page"):
        r = client.get(path)
        csp = r.headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert r.headers["x-frame-options"] == "DENY", path
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["referrer-policy"] == "no-referrer", path
    # The dashboard runs under that CSP: no inline script left in its pages.
    for page in ("/ui/", "/ui/supervision/"):
        html = client.get(page).text
        assert "<script>" not in html.replace(" ", ""), page
        assert not re.search(r"\son[a-z]+=", html), page  # no inline event handlers either


def test_docs_openapi_and_metrics_need_a_session(client: TestClient) -> None:
    for path in ("/openapi.json", "/docs", "/redoc", "/metrics"):
        assert client.get(path).status_code == 401, path
    admin = login(client, "admin", ADMIN_PASSWORD)
    assert client.get("/openapi.json", headers=admin).json()["paths"]
    page = client.get("/docs", headers=admin).text
    assert "cdn" not in page.lower() and "/docs-assets/swagger-ui-bundle.js" in page
    assert "/docs-assets/redoc.standalone.js" in client.get("/redoc", headers=admin).text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
        r = client.get(f"/docs-assets/{asset}")
        assert r.status_code == 200 and len(r.content) > 10_000, asset
    assert client.get("/docs/init.js", headers=admin).status_code == 200
    r = client.get("/metrics", headers=admin)
    assert r.status_code == 200 and "# TYPE" in r.text


def test_metrics_scrape_token_and_admins_only(tmp_path: Path, sqlite_url: str, county: County,
                                              client: TestClient) -> None:
    assert client.get("/metrics", headers=county.operators["东城镇"]).status_code == 403
    settings = make_settings(tmp_path / "b", sqlite_url.replace("hub.db", "hub2.db"), metrics_token="scrape-me-123")
    with TestClient(create_app(settings)) as c:
        assert c.get("/metrics", headers={"Authorization": "Bearer scrape-me-123"}).status_code == 200
        assert c.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/metrics").status_code == 401


def test_docs_can_be_turned_off(tmp_path: Path, sqlite_url: str) -> None:
    with TestClient(create_app(make_settings(tmp_path, sqlite_url, api_docs=False))) as c:
        admin = login(c, "admin", ADMIN_PASSWORD)
        assert c.get("/docs", headers=admin).status_code == 404
        assert c.get("/docs-assets/swagger-ui.css").status_code == 404


def test_session_cookie_is_secure_over_https(tmp_path: Path, sqlite_url: str) -> None:
    body = {"username": "admin", "password": ADMIN_PASSWORD}
    with TestClient(create_app(make_settings(tmp_path, sqlite_url))) as c:
        assert "secure" not in c.post("/api/v1/auth/login", json=body).headers["set-cookie"].lower()
    with TestClient(create_app(make_settings(tmp_path, sqlite_url)), base_url="https://hub.example") as c:
        assert "secure" in c.post("/api/v1/auth/login", json=body).headers["set-cookie"].lower()
    # Behind a trusted TLS proxy: X-Forwarded-Proto from it counts, from anyone else not.
    settings = make_settings(tmp_path, sqlite_url, trusted_proxies=["testclient"])
    with TestClient(create_app(settings)) as c:
        r = c.post("/api/v1/auth/login", json=body, headers={"X-Forwarded-Proto": "https"})
        assert "secure" in r.headers["set-cookie"].lower()
    settings = make_settings(tmp_path, sqlite_url, trusted_proxies=["10.0.0.1"])
    with TestClient(create_app(settings)) as c:
        r = c.post("/api/v1/auth/login", json=body, headers={"X-Forwarded-Proto": "https"})
        assert "secure" not in r.headers["set-cookie"].lower()
