"""Roster (花名册) import from CSV or XLSX.

Counties keep rosters in Excel, with Chinese headers, in UTF-8 or GBK. The
import takes every good row and reports every bad one with its reason;
nothing is half-imported (one transaction for the good rows)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.members.models import Member
from hub.organisations.models import OrgUnit

HEADERS = {
    "name": ("name", "姓名"),
    "member_no": ("member_no", "党员编号", "编号", "学号"),
    "phone": ("phone", "手机", "电话", "联系电话", "手机号码"),
    "status": ("status", "类别", "党员类别", "身份"),
    "excused": ("excused", "免计", "不计入应到人数", "免计人数"),
    "excused_reason": ("excused_reason", "免计原因", "原因"),
    "committee": ("committee", "支委", "支委委员", "是否支委"),
}
STATUS_WORDS = {"正式": "full", "正式党员": "full", "full": "full", "预备": "probationary", "预备党员": "probationary", "probationary": "probationary"}
YES = {"是", "y", "yes", "true", "1", "√"}
NO = {"否", "n", "no", "false", "0", ""}


@dataclass
class RosterReport:
    created: int = 0
    updated: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


class RosterFileError(ValueError):
    """The file as a whole cannot be read (not a row problem)."""


def decode_csv(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise RosterFileError("The CSV file is neither UTF-8 nor GBK; save it again as UTF-8 CSV from Excel.")


def read_table(filename: str, data: bytes) -> list[list[str]]:
    if filename.lower().endswith((".xlsx", ".xlsm")):
        from openpyxl import load_workbook

        try:
            wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:
            raise RosterFileError(f"Cannot open the Excel file ({exc}); save it as .xlsx and try again.") from None
        ws = wb.worksheets[0]
        return [["" if v is None else str(v).strip() for v in row] for row in ws.iter_rows(values_only=True)]
    if filename.lower().endswith(".csv"):
        return [[c.strip() for c in row] for row in csv.reader(io.StringIO(decode_csv(data)))]
    raise RosterFileError("Send the roster as .csv or .xlsx.")


def map_headers(header: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for idx, raw in enumerate(header):
        key = raw.strip().lower()
        for name, aliases in HEADERS.items():
            if key in aliases and name not in found:
                found[name] = idx
    missing = [n for n in ("name", "member_no") if n not in found]
    if missing:
        raise RosterFileError(
            "The first row must name the columns; missing: "
            + ", ".join(f"{n} ({HEADERS[n][1]})" for n in missing)
        )
    return found


def parse_row(cells: list[str], cols: dict[str, int]) -> dict[str, Any]:
    """One row to member fields; raises ValueError with the reason."""

    def cell(name: str) -> str:
        idx = cols.get(name)
        return cells[idx].strip() if idx is not None and idx < len(cells) else ""

    name, number = cell("name"), cell("member_no")
    if not name:
        raise ValueError("姓名为空 name is empty")
    if not number:
        raise ValueError("党员编号为空 member number is empty")
    status_raw = cell("status") or "正式"
    status = STATUS_WORDS.get(status_raw.lower() if status_raw.isascii() else status_raw)
    if status is None:
        raise ValueError(f"类别 {status_raw!r} 无法识别 status must be 正式 or 预备")
    flags = {}
    for flag in ("excused", "committee"):
        raw = cell(flag).lower()
        if raw in YES:
            flags[flag] = True
        elif raw in NO:
            flags[flag] = False
        else:
            raise ValueError(f"{HEADERS[flag][1]} {raw!r} 应为 是/否 must be yes or no")
    phone = cell("phone")
    if phone and not phone.replace("-", "").replace(" ", "").lstrip("+").isdigit():
        raise ValueError(f"电话 {phone!r} 不是号码 phone is not a number")
    reason = cell("excused_reason") or None
    if flags["excused"] and not reason:
        raise ValueError("免计须填原因 an excused member needs a reason")
    return {
        "name": name, "member_no": number, "phone": phone or None, "status": status,
        "excused": flags["excused"], "excused_reason": reason, "committee": flags["committee"],
    }


def import_roster(session: Session, *, branch: OrgUnit, filename: str, data: bytes) -> RosterReport:
    rows = read_table(filename, data)
    rows = [r for r in rows if any(c for c in r)]
    if not rows:
        raise RosterFileError("The file is empty.")
    cols = map_headers(rows[0])
    report = RosterReport()
    seen: dict[str, int] = {}
    for line_no, cells in enumerate(rows[1:], start=2):
        try:
            fields = parse_row(cells, cols)
        except ValueError as exc:
            report.errors.append({"row": line_no, "reason": str(exc)})
            continue
        number = fields["member_no"]
        if number in seen:
            report.errors.append({"row": line_no, "reason": f"党员编号 {number} 与第 {seen[number]} 行重复 duplicate member number (row {seen[number]})"})
            continue
        seen[number] = line_no
        existing = session.scalar(select(Member).where(Member.member_no == number))
        if existing is not None and existing.branch_id != branch.id:
            report.errors.append({"row": line_no, "reason": f"党员编号 {number} 已在其他支部 member number belongs to another branch"})
            continue
        if existing is None:
            session.add(Member(branch_id=branch.id, **fields))
            report.created += 1
        else:
            for key, value in fields.items():
                setattr(existing, key, value)
            existing.active = True
            report.updated += 1
    return report
