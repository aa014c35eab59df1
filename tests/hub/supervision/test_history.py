"""The demo county's year of synthetic history: every page has data."""

from __future__ import annotations

import time
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

from branchlive.history import seed_history
from branchlive.seed import seed_county
from tests.hub.conftest import ADMIN_PASSWORD, login
from tests.hub.supervision.conftest import sessions


@pytest.mark.slow
def test_seed_history_fills_every_page(client: TestClient, settings) -> None:
    factory = sessions(client)
    seed_county(factory, townships=3, halls=9, seed=3)
    t0 = time.monotonic()
    counts = seed_history(factory, settings, days=365, seed=1)
    assert time.monotonic() - t0 < 60
    assert counts["meetings"] > 9 * 12 * 2 and counts["checkins"] > counts["meetings"] * 5
    assert counts["recordings"] > counts["meetings"] // 2
    for key in ("plans", "inspections", "rectifications", "notices", "spot_checks", "notifications"):
        assert counts[key] > 0, key
    assert seed_history(factory, settings) == {"skipped": 1}  # a second call changes nothing
    admin = login(client, "admin", ADMIN_PASSWORD)
    today = date.today()
    year = {"since": str(today - timedelta(days=365)), "until": str(today)}
    rep = client.get("/api/v1/supervision/reports", headers=admin, params=year).json()
    t = rep["totals"]
    assert t["meetings"] == counts["meetings"] and t["live_streamed"] > 0 and 0.3 < t["attendance_rate"] < 1
    assert t["inspections"] > 0 and t["notices"] > 0 and t["spot_checks"] >= 4
    cells = client.get("/api/v1/supervision/compliance", headers=admin, params=year).json()
    statuses = {c["status"] for c in cells["cells"]}
    assert {"held_ok", "not_held"} <= statuses
    template = client.get("/api/v1/supervision/score-templates", headers=admin).json()[0]["id"]
    assert client.get("/api/v1/supervision/rankings", headers=admin, params={"template_id": template, **year}).json()
    assert client.get("/api/v1/supervision/plans", headers=admin).json()
    assert client.get("/api/v1/rectifications", headers=admin, params={"overdue": True}).json()
    assert client.get("/api/v1/supervision/notices", headers=admin).json()[0]["status"] == "published"
    assert client.get("/api/v1/supervision/compliance/alerts", headers=admin).json()
