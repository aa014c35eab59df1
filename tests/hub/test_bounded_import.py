"""Bounded spreadsheet reading: an XLSX that declares a huge sheet, an XLSX
with no sheets, a CSV field over the csv module's limit, too many rows, and
oversized uploads: each a clear 4xx naming the problem, none a 500, and the
hub's memory stays flat."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook

from hub.members import roster
from tests.hub.conftest import County


def xlsx_bomb() -> bytes:
    """A small file whose one sheet declares A1:XFD1048576 and has cells in
    its first and last corners: read-only openpyxl pads every row to the
    declared last column and fills in every missing row."""
    wb = Workbook()
    ws = wb.active
    ws.append(["姓名", "党员编号"])
    ws.append(["张三", "B001"])
    ws.cell(1048576, 16384, "x")
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def xlsx_without_sheets() -> bytes:
    buf = io.BytesIO()
    wb = Workbook()
    wb.save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/workbook.xml":
                text = data.decode()
                start, end = text.index("<sheets>"), text.index("</sheets>") + len("</sheets>")
                data = (text[:start] + "<sheets/>" + text[end:]).encode()
            if item.filename.startswith("xl/worksheets/"):
                continue
            dst.writestr(item, data)
    return out.getvalue()


MEASURE = """
import json, resource, sys
from hub.members import roster
data = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
rows = roster.read_table("bomb.xlsx", data)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"grew_kib": after - before, "rows": len(rows), "first": rows[:2]}))
"""


def test_xlsx_bomb_reads_in_bounded_memory(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.xlsx"
    bomb.write_bytes(xlsx_bomb())
    assert bomb.stat().st_size < 64 * 1024
    # A fresh process, so its peak RSS is this read's and nothing else's.
    out = subprocess.run([sys.executable, "-c", MEASURE, str(bomb)], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    result = json.loads(out.stdout)
    assert result["first"] == [["姓名", "党员编号"], ["张三", "B001"]]
    assert result["grew_kib"] < 50 * 1024, result


def test_xlsx_bomb_roster_import_answers(client: TestClient, county: County) -> None:
    r = client.post(f"/api/v1/branches/{county.branches['东城二村']}/roster", headers=county.admin,
                    files={"file": ("花名册.xlsx", xlsx_bomb(), "application/octet-stream")})
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 1


def test_xlsx_without_sheets_is_a_422(client: TestClient, county: County) -> None:
    data = xlsx_without_sheets()
    r = client.post(f"/api/v1/branches/{county.branches['东城一村']}/roster", headers=county.admin,
                    files={"file": ("花名册.xlsx", data, "application/octet-stream")})
    assert r.status_code == 422, r.text
    assert "no sheets" in r.json()["detail"]
    r = client.post("/api/v1/supervision/households/import", headers=county.admin,
                    files={"file": ("台账.xlsx", data, "application/octet-stream")})
    assert r.status_code == 422, r.text


def test_csv_field_over_the_csv_limit_is_a_422_naming_the_row(client: TestClient, county: County) -> None:
    big = "姓名,党员编号\n张三,D001\n" + '"' + "长" * 140_000 + '",D009\n'
    r = client.post(f"/api/v1/branches/{county.branches['东城一村']}/roster", headers=county.admin,
                    files={"file": ("花名册.csv", big.encode(), "text/csv")})
    assert r.status_code == 422, r.text
    assert "Row 3" in r.json()["detail"]
    ledger = "户主姓名,联系电话,所属党组织\n" + "王" * 131_073 + ",138,东城一村\n"
    r = client.post("/api/v1/supervision/households/import", headers=county.admin,
                    files={"file": ("台账.csv", ledger.encode(), "text/csv")})
    assert r.status_code == 422, r.text
    assert "Row 2" in r.json()["detail"]


def test_cell_longer_than_its_column_is_a_row_error(client: TestClient, county: County) -> None:
    data = ("姓名,党员编号\n" + "张" * 101 + ",D001\n李四,D002\n").encode()
    r = client.post(f"/api/v1/branches/{county.branches['东城一村']}/roster", headers=county.admin,
                    files={"file": ("花名册.csv", data, "text/csv")})
    assert r.status_code == 200, r.text
    assert [(e["row"], e["reason"], e["code"], e["field"]) for e in r.json()["errors"]] == [
        (2, "姓名 name 超过 100 字 is longer than 100 characters", "too_long", "name")]


def test_too_many_rows_is_refused_before_parsing_further(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = "姓名,党员编号\n" + "".join(f"党员{i},N{i}\n" for i in range(20))
    with pytest.raises(roster.RosterFileError, match="more than 10 rows"):
        roster.read_table("x.csv", rows.encode(), max_rows=10)
    monkeypatch.setattr(roster, "MAX_CELLS", 15)
    with pytest.raises(roster.RosterFileError, match="more than 15 filled cells"):
        roster.read_table("x.csv", rows.encode())


def test_upload_over_the_cap_is_a_413_while_streaming(client: TestClient, county: County) -> None:
    app = client.app
    limit = next(m for m in app.user_middleware if m.cls.__name__ == "UploadLimit").kwargs["max_bytes"]  # type: ignore[attr-defined]
    big = b"x" * (limit + 1)
    r = client.post(f"/api/v1/branches/{county.branches['东城一村']}/roster", headers=county.admin,
                    files={"file": ("花名册.csv", big, "text/csv")})
    assert r.status_code == 413 and r.json()["code"] == "too_large"

    def chunks():  # type: ignore[no-untyped-def]
        yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\n"
        for _ in range(limit // (1024 * 1024) + 2):
            yield b"x" * (1024 * 1024)
        yield b"\r\n--b--\r\n"

    # No Content-Length: cut off while it streams in.
    r = client.post(f"/api/v1/branches/{county.branches['东城一村']}/roster", content=chunks(),
                    headers={**county.admin, "Content-Type": "multipart/form-data; boundary=b"})
    assert r.status_code == 413, r.text
