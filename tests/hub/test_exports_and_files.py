"""Spreadsheet exports never carry a live formula from user data, and the
hub's data files are readable by its own user only."""

from __future__ import annotations

import io
import stat
from datetime import date, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from tests.hub.conftest import County

EVIL = ['=HYPERLINK("http://evil.example/","点我")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1,2)"]


def cells(data: bytes) -> dict[str, tuple[str, bool]]:
    wb = load_workbook(io.BytesIO(data))
    out = {}
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if isinstance(c.value, str):
                    out[c.value] = (c.data_type, bool(c.quotePrefix))
    return out


def test_formula_cells_are_text_in_exports(client: TestClient, county: County) -> None:
    admin, branch = county.admin, county.branches["东城二村"]
    r = client.post(f"/api/v1/branches/{branch}/members", headers=admin,
                    json={"name": EVIL[0], "member_no": "E001", "phone": "13800000009"})
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/supervision/spot-checks", headers=admin,
                    json={"unit_id": branch, "population": "members", "sample_size": 1, "label": "抽查"})
    assert r.status_code == 201, r.text
    spot = client.get(f"/api/v1/supervision/spot-checks/{r.json()['id']}/export.xlsx", headers=admin)
    assert spot.status_code == 200
    r = client.post("/api/v1/rectifications", headers=admin, json={
        "branch_id": branch, "problem": EVIL[1], "measures": EVIL[2], "responsible": EVIL[3],
        "deadline": str(date.today() + timedelta(days=3))})
    assert r.status_code == 201, r.text
    ledger = client.get("/api/v1/rectifications/export.xlsx", headers=admin)
    assert ledger.status_code == 200
    found = {**cells(spot.content), **cells(ledger.content)}
    for value in EVIL:
        assert found.get(value) == ("s", True), (value, found.get(value))


def test_data_files_are_private(client: TestClient, county: County) -> None:
    settings = client.app.state.ctx.settings  # type: ignore[attr-defined]
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        db = Path(url.split("///", 1)[1])
        for part in (db, Path(f"{db}-wal")):
            assert stat.S_IMODE(part.stat().st_mode) == 0o600, part
    r = client.post("/api/v1/rectifications", headers=county.admin, json={
        "branch_id": county.branches["东城一村"], "problem": "记录不全", "measures": "补记", "responsible": "刘书记",
        "deadline": str(date.today() + timedelta(days=3))})
    assert r.status_code == 201, r.text
    item = r.json()["id"]
    r = client.post(f"/api/v1/rectifications/{item}/evidence", headers=county.admin,
                    files={"file": ("照片.jpg", b"\xff\xd8photo", "image/jpeg")})
    assert r.status_code == 201, r.text
    stored = [p for p in (settings.data_dir / "supervision" / "evidence").rglob("*") if p.is_file()]
    assert stored and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in stored)
