"""Passwords an online guesser tries first are refused, with a code the UI
shows in Chinese: on a new operator, on a password change and for the
configured first admin (the hub says which setting to change)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.app import create_app
from tests.hub.conftest import ADMIN_PASSWORD, County, login, make_settings

WEAK = ["12345678", "password1", "qwertyuiop", "abc12345", "11111111"]


@pytest.mark.parametrize("weak", WEAK)
def test_a_weak_new_password_is_refused(client: TestClient, county: County, weak: str) -> None:
    r = client.post("/api/v1/auth/password", headers=county.admin,
                    json={"current_password": ADMIN_PASSWORD, "new_password": weak})
    assert r.status_code == 422 and r.json()["code"] == "password_too_weak", r.text
    assert login(client, "admin", ADMIN_PASSWORD)  # unchanged


def test_the_user_name_with_digits_is_refused_and_a_passphrase_taken(client: TestClient, county: County) -> None:
    root = client.get("/api/v1/org-units", headers=county.admin).json()[0]["id"]
    body = {"username": "liuzhuang", "password": "liuzhuang1", "role": "viewer", "scope_id": root,
            "display_name": "刘庄"}
    r = client.post("/api/v1/operators", headers=county.admin, json=body)
    assert r.status_code == 422 and r.json()["code"] == "password_too_weak", r.text
    r = client.post("/api/v1/operators", headers=county.admin, json={**body, "password": "river-bridge-lamp"})
    assert r.status_code == 201, r.text
    assert login(client, "liuzhuang", "river-bridge-lamp")


def test_a_weak_configured_admin_password_stops_the_hub_saying_which_setting(tmp_path: Path,
                                                                             sqlite_url: str) -> None:
    settings = make_settings(tmp_path, sqlite_url)
    settings.admin_password = "12345678"
    with pytest.raises(RuntimeError, match="BRANCHLIVE_ADMIN_PASSWORD"):
        with TestClient(create_app(settings)):
            pass
