"""Upgrades: a database made by the previous release (0.1.0, schema heads
0002_media, 0003_supervision and 0004_fingerprints) with data in it is
migrated to head at start-up and the API serves the data; a database from a
newer release stops the hub with a message saying what to do."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, create_engine, text

from hub.app import create_app
from hub.db import SchemaTooNew, _alembic_config
from tests.hub.conftest import ADMIN_PASSWORD, login, make_settings

RELEASE_0_1_HEADS = ["0002_media", "0003_supervision", "0004_fingerprints"]
T0 = datetime(2026, 3, 5, 1, 0, tzinfo=UTC)
MEETING = str(uuid.UUID(int=7))
CHECKIN = str(uuid.UUID(int=8))


def build_release_0_1_database(url: str) -> None:
    """The schema exactly as release 0.1.0 left it, and a small county in it,
    written with plain inserts (today's models may differ)."""
    engine = create_engine(url)
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        for head in RELEASE_0_1_HEADS:
            command.upgrade(cfg, head)
    meta = MetaData()
    meta.reflect(engine)
    t = meta.tables

    def rows(name: str, *values: dict[str, Any]) -> None:
        conn.execute(t[name].insert(), list(values))

    with engine.begin() as conn:
        rows("org_units",
             {"id": 1, "parent_id": None, "name": "县委组织部", "kind": "county", "path": "/1/", "created_at": T0},
             {"id": 2, "parent_id": 1, "name": "城关镇", "kind": "township", "path": "/1/2/", "created_at": T0},
             {"id": 3, "parent_id": 2, "name": "东风村党支部", "kind": "branch", "path": "/1/2/3/", "created_at": T0})
        member = {"branch_id": 3, "phone": None, "status": "full", "excused": False, "excused_reason": None,
                  "committee": False, "active": True, "created_at": T0, "updated_at": T0}
        rows("members", {**member, "id": 11, "member_no": "001", "name": "张三", "committee": True},
             {**member, "id": 12, "member_no": "002", "name": "李四"})
        rows("meetings", {"id": MEETING, "branch_id": 3, "meeting_type": "theme_day", "topic": "学习",
                          "status": "ended", "started_at": T0, "ended_at": T0 + timedelta(hours=1),
                          "flagged": False, "created_at": T0})
        rows("checkins", {"id": CHECKIN, "meeting_id": MEETING, "member_id": 11, "branch_id": 3,
                          "checked_in_at": T0 + timedelta(minutes=2), "method": "fingerprint", "late": False,
                          "received_at": T0 + timedelta(minutes=2)})
        rows("media_recordings", {"meeting_id": MEETING, "branch_id": 3, "meeting_type": "theme_day",
                                  "flagged": False, "started_at": T0, "ended_at": T0 + timedelta(hours=1)})
    engine.dispose()


def test_previous_release_database_is_upgraded_and_served(tmp_path: Path, db_url: str) -> None:
    build_release_0_1_database(db_url)
    settings = make_settings(tmp_path, db_url)
    with TestClient(create_app(settings)) as client:
        admin = login(client, "admin", ADMIN_PASSWORD)
        units = client.get("/api/v1/org-units", headers=admin).json()
        assert [u["name"] for u in units] == ["县委组织部", "城关镇", "东风村党支部"]
        members = client.get("/api/v1/branches/3/members", headers=admin).json()
        assert sorted((m["member_no"], m["name"]) for m in members) == [("001", "张三"), ("002", "李四")]
        meeting = client.get(f"/api/v1/meetings/{MEETING}", headers=admin)
        assert meeting.status_code == 200 and meeting.json()["status"] == "ended"
        rows = client.get(f"/api/v1/meetings/{MEETING}/attendance", headers=admin).json()
        assert [(r["checkin_id"], r["name"], r["method"]) for r in rows] == [(CHECKIN, "张三", "fingerprint")]
        # the upgraded hub keeps working: a new member is added next to the old ones
        r = client.post("/api/v1/branches/3/members", headers=admin, json={"name": "王五", "member_no": "003"})
        assert r.status_code in (200, 201), r.text
    engine = create_engine(db_url)
    with engine.connect() as conn:
        heads = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    engine.dispose()
    from alembic.script import ScriptDirectory

    assert heads == set(ScriptDirectory.from_config(_alembic_config()).get_heads())


def _stamp_future(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        # a newer release migrated one more step than this code knows
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES ('0099_from_the_future')"))
    engine.dispose()


def test_hub_refuses_a_schema_newer_than_itself(tmp_path: Path, db_url: str) -> None:
    settings = make_settings(tmp_path, db_url)
    with TestClient(create_app(settings)):
        pass
    _stamp_future(db_url)
    with pytest.raises(SchemaTooNew) as err:
        create_app(settings)
    text_ = str(err.value)
    assert "0099_from_the_future" in text_ and "newer branchlive" in text_
    assert "branchlive restore" in text_ and "Do not downgrade" in text_


def test_branchlive_hub_exits_with_the_message(tmp_path: Path, sqlite_url: str) -> None:
    settings = make_settings(tmp_path, sqlite_url)
    with TestClient(create_app(settings)):
        pass
    _stamp_future(sqlite_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRANCHLIVE_")}
    res = subprocess.run([sys.executable, "-m", "branchlive.cli", "hub", "--data-dir", str(tmp_path / "data"),
                          "--database-url", sqlite_url], capture_output=True, text=True, env=env, timeout=120,
                         cwd=Path(__file__).resolve().parents[2])
    assert res.returncode == 2
    assert "0099_from_the_future" in res.stderr and "made by a newer branchlive" in res.stderr
