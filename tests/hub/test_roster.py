"""Roster import: good rows in, every bad row reported with its reason."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook

from hub.members.roster import RosterFileError, decode_csv, map_headers, parse_row
from tests.hub.conftest import County

CSV = """姓名,党员编号,手机,类别,免计,免计原因,支委
刘一,R001,13800000001,正式,否,,是
陈二,R002,13800000002,预备,否,,否
,R003,13800000003,正式,否,,否
张四,R004,电话坏了,正式,否,,否
王五,R005,,党员,否,,否
赵六,R006,,正式,是,,否
钱七,R001,,正式,否,,否
孙八,R008,,正式,是,出国半年以上,否
"""


def upload(client: TestClient, county: County, filename: str, data: bytes, branch: str = "东城二村"):  # type: ignore[no-untyped-def]
    return client.post(f"/api/v1/branches/{county.branches[branch]}/roster", headers=county.admin,
                       files={"file": (filename, data)})


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gbk"])
def test_csv_in_utf8_or_gbk_imports_good_rows_and_reports_bad(client: TestClient, county: County, encoding: str) -> None:
    r = upload(client, county, "roster.csv", CSV.encode(encoding))
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["created"] == 3
    reasons = {e["row"]: e["reason"] for e in report["errors"]}
    assert set(reasons) == {4, 5, 6, 7, 8}
    assert "name is empty" in reasons[4]
    assert "phone" in reasons[5]
    assert "status" in reasons[6]
    assert "reason" in reasons[7]
    assert "duplicate" in reasons[8] and "row 2" in reasons[8]
    members = client.get(f"/api/v1/branches/{county.branches['东城二村']}/members", headers=county.admin).json()
    by_no = {m["member_no"]: m for m in members}
    assert set(by_no) == {"R001", "R002", "R008"}
    assert by_no["R001"]["name"] == "刘一" and by_no["R001"]["committee"] is True
    assert by_no["R002"]["status"] == "probationary"
    assert by_no["R008"]["excused"] is True and by_no["R008"]["excused_reason"] == "出国半年以上"


def test_xlsx_import_and_reimport_updates(client: TestClient, county: County) -> None:
    wb = Workbook()
    ws = wb.active
    ws.append(["党员编号", "姓名", "类别"])
    ws.append(["X001", "周九", "正式"])
    ws.append(["X002", "吴十", "预备"])
    ws.append(["D001", "冒名", "正式"])  # belongs to 东城一村
    buf = io.BytesIO()
    wb.save(buf)
    report = upload(client, county, "花名册.xlsx", buf.getvalue()).json()
    assert report["created"] == 2
    assert [(e["row"], e["code"], e["field"]) for e in report["errors"]] == [(4, "other_branch", "member_no")]
    assert report["errors"][0]["values"]["name"] == "冒名"
    assert "another branch" in report["errors"][0]["reason"]
    ws["C3"] = "正式"
    buf = io.BytesIO()
    wb.save(buf)
    again = upload(client, county, "花名册.xlsx", buf.getvalue()).json()
    assert (again["created"], again["updated"]) == (0, 2)


def test_whole_file_problems_are_one_clear_error(client: TestClient, county: County) -> None:
    r = upload(client, county, "roster.txt", b"hello")
    assert r.status_code == 422 and ".csv or .xlsx" in r.json()["detail"]
    r = upload(client, county, "roster.csv", "名字,号码\n甲,1\n".encode())
    assert r.status_code == 422 and "missing" in r.json()["detail"]
    r = upload(client, county, "roster.xlsx", b"not a zip")
    assert r.status_code == 422 and "Excel" in r.json()["detail"]


def test_parse_row_rules() -> None:
    cols = map_headers(["name", "member_no", "status", "committee"])
    assert parse_row(["A", "1", "full", "yes"], cols)["committee"] is True
    with pytest.raises(ValueError, match="yes or no"):
        parse_row(["A", "1", "full", "maybe"], cols)
    with pytest.raises(RosterFileError):
        decode_csv(b"\xff\xfe\xfa\xfb\x81")


def test_reimport_keeps_what_the_file_leaves_out_and_refuses_a_renamed_number(client: TestClient,
                                                                              county: County) -> None:
    """A second, thinner file must not wipe a member's phone or committee seat,
    and a member number under another name is refused, not a rename."""
    first = "姓名,党员编号,手机,类别,支委,支委职务\n王建国,K001,13800000001,正式,是,书记\n"
    assert upload(client, county, "roster.csv", first.encode()).json()["created"] == 1
    thin = "姓名,党员编号,类别\n王建国,K001,预备\n周某,K001X,正式\n"
    report = upload(client, county, "thin.csv", thin.encode()).json()
    assert (report["created"], report["updated"], report["errors"]) == (1, 1, [])
    renamed = "姓名,党员编号,类别\n周某,K001,正式\n"
    report = upload(client, county, "renamed.csv", renamed.encode()).json()
    assert report["updated"] == 0 and [(e["row"], e["code"]) for e in report["errors"]] == [(2, "name_mismatch")]
    assert "王建国" in report["errors"][0]["reason"]
    members = client.get(f"/api/v1/branches/{county.branches['东城二村']}/members", headers=county.admin).json()
    k = next(m for m in members if m["member_no"] == "K001")
    assert (k["name"], k["phone"], k["committee"], k["committee_role"], k["status"]) == \
        ("王建国", "13800000001", True, "书记", "probationary")
