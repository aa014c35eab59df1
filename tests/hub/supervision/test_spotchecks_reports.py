"""Spot-check samples reproducible from their seed; household ledgers;
reports and their XLSX export."""

from __future__ import annotations

import io
from datetime import date

from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook

from hub.members.models import Member
from hub.supervision.spotchecks import sampling
from tests.hub.conftest import County
from tests.hub.supervision.conftest import add_meeting, local, sessions


def test_sample_is_reproducible_from_seed_and_population() -> None:
    pop = [f"member:{i}" for i in range(1, 501)]
    a = sampling.draw(pop, 123456789, 20)
    assert a == sampling.draw(list(reversed(pop)), 123456789, 20)  # order read in does not matter
    assert len(set(a)) == 20 and set(a) <= set(pop)
    assert sampling.draw(pop, 987654321, 20) != a
    assert sampling.population_hash(pop) == sampling.population_hash(reversed(pop))
    assert sampling.population_hash(pop[:-1]) != sampling.population_hash(pop)
    # Golden: the algorithm must never change under a recorded seed.
    assert sampling.draw(["a", "b", "c", "d", "e"], 1, 2) == sorted(
        ["a", "b", "c", "d", "e"], key=lambda k: __import__("hashlib").sha256(f"1:{k}".encode()).digest())[:2]


def give_phones(client: TestClient) -> None:
    with sessions(client)() as s:
        for i, m in enumerate(s.query(Member).all()):
            m.phone = f"1380000{i:04d}"
        s.commit()


def test_draw_verify_call_and_export(client: TestClient, county: County) -> None:
    give_phones(client)
    dc, xs = county.operators["东城镇"], county.operators["西山乡"]
    r = client.post("/api/v1/supervision/spot-checks", headers=dc, json={"population": "members", "sample_size": 3, "label": "2025年第一季度"})
    assert r.status_code == 201, r.text
    check = r.json()
    assert check["population_size"] == 4 and len(check["calls"]) == 3
    keys = [f"member:{county.members[n]}" for n in ("张三", "李四", "王五", "赵六")]
    assert check["population_hash"] == sampling.population_hash(keys)
    assert [c["subject_key"] for c in check["calls"]] == sampling.draw(keys, check["seed"], 3)
    v = client.get(f"/api/v1/supervision/spot-checks/{check['id']}/verify", headers=dc).json()
    assert v["sample_matches"] and v["snapshot_hash_ok"] and not v["population_changed_since"]
    call = check["calls"][0]
    r = client.post(f"/api/v1/supervision/spot-checks/{check['id']}/calls/{call['id']}", headers=dc, json={"outcome": "denied"})
    assert r.status_code == 422 and "needs a note" in r.json()["detail"]
    r = client.post(f"/api/v1/supervision/spot-checks/{check['id']}/calls/{call['id']}", headers=dc,
                    json={"outcome": "confirmed", "note": "3月入户走访属实"})
    assert r.json()["outcome"] == "confirmed" and r.json()["called_by"] == "dongcheng"
    assert client.get(f"/api/v1/supervision/spot-checks/{check['id']}", headers=xs).status_code == 404
    assert client.post(f"/api/v1/supervision/spot-checks/{check['id']}/calls/{call['id']}", headers=xs,
                       json={"outcome": "confirmed"}).status_code == 404
    r = client.post("/api/v1/supervision/spot-checks", headers=dc, json={"population": "members", "sample_size": 9, "label": "x"})
    assert r.status_code == 422 and "at most 4" in r.json()["detail"]
    # The roster changes: the stored sample still verifies, and says so.
    with sessions(client)() as s:
        s.get(Member, county.members["赵六"]).active = False  # type: ignore[union-attr]
        s.commit()
    v = client.get(f"/api/v1/supervision/spot-checks/{check['id']}/verify", headers=dc).json()
    assert v["sample_matches"] and v["population_changed_since"]
    r = client.get(f"/api/v1/supervision/spot-checks/{check['id']}/export.xlsx", headers=dc)
    ws = load_workbook(io.BytesIO(r.content)).active
    assert [c.value for c in ws[1]] == ["序号", "党组织名称", "姓名", "联系电话", "核实结果", "备注", "核实人", "核实时间"]
    assert [c.value for c in ws[2]][:7] == [1, "东城一村", call["name"], call["phone"], "属实", "3月入户走访属实", "dongcheng"]
    assert ws.cell(3, 5).value == "待核实" and ws.max_row == 4


def test_household_ledger_csv_and_xlsx(client: TestClient, county: County) -> None:
    admin = county.admin
    csv_bad = "户主姓名,联系电话,所属党组织\n王大爷,13700000001,东城一村\n,13700000002,火星村\n".encode("gb18030")
    r = client.post("/api/v1/supervision/households/import", headers=admin, files={"file": ("台账.csv", csv_bad, "text/csv")})
    assert r.status_code == 200 and r.json()["imported"] == 0 and r.json()["ledger"] is None
    assert r.json()["errors"][0]["row"] == 3 and "户主姓名 is empty" in r.json()["errors"][0]["problems"]
    wb = Workbook()
    ws = wb.active
    ws.append(["户编号", "户主姓名", "联系电话", "家庭住址", "所属党组织"])
    for i in range(12):
        ws.append([f"H{i:03d}", f"户主{i}", f"1370000{i:04d}", f"{i}组", ("东城一村", "东城二村", "西山一村")[i % 3]])
    buf = io.BytesIO()
    wb.save(buf)
    r = client.post("/api/v1/supervision/households/import", headers=admin, data={"name": "2025年入户走访台账"},
                    files={"file": ("台账.xlsx", buf.getvalue(), "application/octet-stream")})
    assert r.status_code == 200, r.text
    ledger = r.json()["ledger"]
    assert r.json()["imported"] == 12 and ledger["name"] == "2025年入户走访台账"
    # A township draws from the county's ledger, its own households only.
    r = client.post("/api/v1/supervision/spot-checks", headers=county.operators["西山乡"],
                    json={"population": "households", "ledger_id": ledger["id"], "sample_size": 4, "label": "入户核实"})
    assert r.status_code == 201, r.text
    assert r.json()["population_size"] == 4 and {c["branch_name"] for c in r.json()["calls"]} == {"西山一村"}
    r = client.post("/api/v1/supervision/spot-checks", headers=admin, json={"population": "households", "sample_size": 2, "label": "x"})
    assert r.status_code == 422 and "ledger_id" in r.json()["detail"]


def test_report_and_xlsx(client: TestClient, county: County) -> None:
    b1, b2 = county.branches["东城一村"], county.branches["西山一村"]
    zs, ls, ww = county.members["张三"], county.members["李四"], county.members["王五"]
    with sessions(client)() as s:
        add_meeting(s, branch_id=b1, meeting_type="general_meeting", start=local(2024, 2, 20), present=[zs, ls, ww], recorded=True)
        add_meeting(s, branch_id=b1, meeting_type="theme_day", start=local(2024, 3, 5), present=[zs], recorded=False)
        add_meeting(s, branch_id=b2, meeting_type="theme_day", start=local(2024, 3, 5), present=[county.members["孙七"]], recorded=True)
        add_meeting(s, branch_id=b2, meeting_type="theme_day", start=local(2024, 4, 5), present=[], recorded=True)  # outside Q1
        s.commit()
    r = client.get("/api/v1/supervision/reports", headers=county.admin, params={"period": "2024-Q1"})
    assert r.status_code == 200, r.text
    rep = r.json()
    t = rep["totals"]
    assert (t["branches"], t["meetings"], t["live_streamed"]) == (4, 3, 2)
    # 东城一村 expects 3 (赵六 is excused), 西山一村 1: (3 + 1 + 1) / (3 + 3 + 1)
    assert t["attendance_rate"] == round(5 / 7, 4)
    by_type = {x["code"]: x for x in rep["by_type"]}
    assert by_type["theme_day"]["meetings"] == 2 and by_type["theme_day"]["name_zh"] == "主题党日"
    assert {x["township"]: x["meetings"] for x in rep["by_township"]} == {"东城镇": 2, "西山乡": 1}
    assert [x["month"] for x in rep["by_month"]] == ["2024-02", "2024-03"]
    own = client.get("/api/v1/supervision/reports", headers=county.operators["西山乡"], params={"period": "2024-Q1"}).json()
    assert own["totals"]["meetings"] == 1 and [x["township"] for x in own["by_township"]] == ["西山乡"]
    assert client.get("/api/v1/supervision/reports", headers=county.operators["西山乡"],
                      params={"period": "2024-Q1", "unit_id": b1}).status_code == 404
    assert client.get("/api/v1/supervision/reports", headers=county.admin, params={"period": "Q1"}).status_code == 422
    r = client.get("/api/v1/supervision/reports/export.xlsx", headers=county.admin,
                   params={"since": "2024-01-01", "until": "2024-03-31"})
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["概况", "按会议类型", "按乡镇", "按月"]
    summary = {row[0].value: row[1].value for row in wb["概况"].iter_rows(min_row=2)}
    assert summary["召开会议次数"] == 3 and summary["直播（录像）会议次数"] == 2 and summary["党组织数"] == 4
    assert summary["参会率"] == round(5 / 7, 4) and summary["开始日期"].date() == date(2024, 1, 1)
    ws = wb["按乡镇"]
    assert [c.value for c in ws[1]][:5] == ["乡镇（街道）", "党组织数", "召开会议", "直播录像", "参会率"]
    assert [c.value for c in ws[2]][:4] == ["东城镇", 2, 2, 1] and [c.value for c in ws[3]][:4] == ["西山乡", 2, 1, 1]
    ws = wb["按会议类型"]
    assert [[c.value for c in row] for row in ws.iter_rows(min_row=2)] == [
        ["支部党员大会", 1, 1, 3, 3, 1], ["主题党日", 2, 1, 2, 4, 0.5]]
