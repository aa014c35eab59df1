"""Roster (花名册) import from CSV or XLSX.

Counties keep rosters in Excel, with Chinese headers, in UTF-8 or GBK. The
import takes every good row and reports every bad one with its reason;
nothing is half-imported (one transaction for the good rows)."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Iterator, Sequence
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
    "committee_role": ("committee_role", "支委职务", "职务"),
}
FIELDS = tuple(HEADERS)
STATUS_WORDS = {"正式": "full", "正式党员": "full", "full": "full", "预备": "probationary", "预备党员": "probationary", "probationary": "probationary"}
YES = {"是", "y", "yes", "true", "1", "√"}
NO = {"否", "n", "no", "false", "0", ""}


@dataclass
class RosterReport:
    created: int = 0
    updated: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


class RowError(ValueError):
    """One bad row: `code` names the problem for the UI (hub error codes are
    translated there), `field` the cell to fix; the message stays bilingual
    for the API and the logs."""

    def __init__(self, code: str, field: str, reason: str) -> None:
        super().__init__(reason)
        self.code, self.field = code, field


class RosterFileError(ValueError):
    """The file as a whole cannot be read (not a row problem)."""


def decode_csv(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise RosterFileError("The CSV file is neither UTF-8 nor GBK; save it again as UTF-8 CSV from Excel.")


# Bounds on an imported table, checked while reading and before anything is
# materialised: a 40 KiB XLSX can declare 16384 columns x 1048576 rows.
MAX_ROWS = 200_000
MAX_COLUMNS = 32  # cells to the right of this are not read
MAX_CELLS = 2_000_000
MAX_FIELD = 4_096  # characters in one cell
MAX_XLSX_XML = 256 * 1024 * 1024  # uncompressed size of all parts of a workbook
MAX_SHARED_STRINGS = 32 * 1024 * 1024  # read-only openpyxl keeps these in memory


def _bounded(rows: Iterable[Sequence[Any]], max_rows: int) -> list[list[str]]:
    out: list[list[str]] = []
    cells = empty = 0
    for n, row in enumerate(rows, start=1):
        values = ["" if v is None else str(v).strip() for v in row[:MAX_COLUMNS]]
        while values and not values[-1]:
            values.pop()
        if not values:
            empty += 1  # kept for the row numbers only if a filled row follows
            continue
        out.extend([] for _ in range(empty))
        empty = 0
        if n > max_rows + 1:
            raise RosterFileError(f"The file has more than {max_rows} rows (row {n}); split it and send the parts.")
        for col, value in enumerate(values, start=1):
            if len(value) > MAX_FIELD:
                raise RosterFileError(f"Row {n}, column {col}: a cell longer than {MAX_FIELD} characters; shorten it.")
        cells += len(values)
        if cells > MAX_CELLS:
            raise RosterFileError(f"The file has more than {MAX_CELLS} filled cells (row {n}); split it and send the parts.")
        out.append(values)
    return out


def _xlsx_rows(data: bytes, max_rows: int) -> list[list[str]]:
    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            parts = zf.infolist()
    except (zipfile.BadZipFile, ValueError) as exc:
        raise RosterFileError(f"Cannot open the Excel file ({exc}); save it as .xlsx and try again.") from None
    if sum(i.file_size for i in parts) > MAX_XLSX_XML or any(
            i.filename.endswith("sharedStrings.xml") and i.file_size > MAX_SHARED_STRINGS for i in parts):
        raise RosterFileError("The Excel file unpacks to too much data; save only the table as a new .xlsx.")
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:
        raise RosterFileError(f"Cannot open the Excel file ({exc}); save it as .xlsx and try again.") from None
    try:
        if not wb.worksheets:
            raise RosterFileError("The Excel file has no sheets; put the table on the first sheet.")
        ws = wb.worksheets[0]
        # Explicit bounds: read-only openpyxl otherwise pads every row to the
        # sheet's declared last column and fills in every declared row.
        return _bounded(ws.iter_rows(min_row=1, max_row=max_rows + 2, max_col=MAX_COLUMNS, values_only=True), max_rows)
    except RosterFileError:
        raise
    except Exception as exc:
        raise RosterFileError(f"Cannot read the first sheet ({type(exc).__name__}: {exc}); save it as .xlsx and try again.") from None
    finally:
        wb.close()


def _csv_rows(data: bytes, max_rows: int) -> list[list[str]]:
    reader = csv.reader(io.StringIO(decode_csv(data)))

    def rows() -> Iterator[list[str]]:
        while True:
            try:
                yield next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise RosterFileError(f"Row {reader.line_num}: {exc}; check the quotes in that row.") from None

    return _bounded(rows(), max_rows)


def read_table(filename: str, data: bytes, *, max_rows: int = MAX_ROWS) -> list[list[str]]:
    """The first sheet (or the CSV) as rows of stripped strings, within the
    bounds above; RosterFileError names the row that breaks one."""
    if filename.lower().endswith((".xlsx", ".xlsm")):
        return _xlsx_rows(data, max_rows)
    if filename.lower().endswith(".csv"):
        return _csv_rows(data, max_rows)
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


def row_values(cells: list[str], cols: dict[str, int]) -> dict[str, str]:
    """A row's cells by field name (what the page shows for fixing a bad row)."""
    return {name: (cells[idx].strip() if idx < len(cells) else "") for name, idx in cols.items()}


def parse_row(cells: list[str], cols: dict[str, int]) -> dict[str, Any]:
    """One row to member fields; raises RowError with the reason."""
    return parse_values(row_values(cells, cols))


def parse_values(values: dict[str, str]) -> dict[str, Any]:
    """A row's values by field name to member fields; raises RowError."""

    def cell(name: str) -> str:
        return str(values.get(name) or "").strip()

    name, number = cell("name"), cell("member_no")
    if not name:
        raise RowError("name_empty", "name", "姓名为空 name is empty")
    if not number:
        raise RowError("member_no_empty", "member_no", "党员编号为空 member number is empty")
    status_raw = cell("status") or "正式"
    status = STATUS_WORDS.get(status_raw.lower() if status_raw.isascii() else status_raw)
    if status is None:
        raise RowError("status_unknown", "status", f"类别 {status_raw!r} 无法识别 status must be 正式 or 预备")
    flags = {}
    for flag in ("excused", "committee"):
        raw = cell(flag).lower()
        if raw in YES:
            flags[flag] = True
        elif raw in NO:
            flags[flag] = False
        else:
            raise RowError("yes_no", flag, f"{HEADERS[flag][1]} {raw!r} 应为 是/否 must be yes or no")
    phone = cell("phone")
    if phone and not phone.replace("-", "").replace(" ", "").lstrip("+").isdigit():
        raise RowError("phone_invalid", "phone", f"电话 {phone!r} 不是号码 phone is not a number")
    reason = cell("excused_reason") or None
    role = cell("committee_role") or None
    for field_name, label, value, limit in (("name", "姓名 name", name, 100),
                                            ("member_no", "党员编号 member number", number, 64),
                                            ("phone", "电话 phone", phone, 32),
                                            ("excused_reason", "免计原因 reason", reason or "", 200),
                                            ("committee_role", "支委职务 committee role", role or "", 40)):
        if len(value) > limit:
            raise RowError("too_long", field_name, f"{label} 超过 {limit} 字 is longer than {limit} characters")
    if flags["excused"] and not reason:
        raise RowError("excused_reason_missing", "excused_reason", "免计须填原因 an excused member needs a reason")
    return {
        "name": name, "member_no": number, "phone": phone or None, "status": status,
        "excused": flags["excused"], "excused_reason": reason, "committee": flags["committee"] or bool(role),
        "committee_role": role,
    }


def import_roster(session: Session, *, branch: OrgUnit, filename: str, data: bytes,
                  rows: list[list[str]] | None = None) -> RosterReport:
    """`rows`: the table already read by read_table (then filename/data are not parsed again)."""
    rows = read_table(filename, data) if rows is None else rows
    rows = [r for r in rows if any(c for c in r)]
    if not rows:
        raise RosterFileError("The file is empty.")
    cols = map_headers(rows[0])
    return import_values(session, branch=branch,
                         rows=[(n, row_values(cells, cols)) for n, cells in enumerate(rows[1:], start=2)])


def import_values(session: Session, *, branch: OrgUnit, rows: list[tuple[int, dict[str, str]]]) -> RosterReport:
    """Rows as (row number, values by field): from a file, or the bad rows of
    an earlier import corrected in the page and sent again. Every bad row
    comes back with its number, reason, code, field and values."""
    report = RosterReport()
    seen: dict[str, int] = {}

    def bad(line_no: int, values: dict[str, str], code: str, field_name: str, reason: str) -> None:
        report.errors.append({"row": line_no, "reason": reason, "code": code, "field": field_name,
                              "values": {k: values.get(k, "") for k in FIELDS}})

    for line_no, values in rows:
        try:
            fields = parse_values(values)
        except RowError as exc:
            bad(line_no, values, exc.code, exc.field, str(exc))
            continue
        number = fields["member_no"]
        if number in seen:
            bad(line_no, values, "duplicate", "member_no",
                f"党员编号 {number} 与第 {seen[number]} 行重复 duplicate member number (row {seen[number]})")
            continue
        seen[number] = line_no
        existing = session.scalar(select(Member).where(Member.member_no == number))
        if existing is not None and existing.branch_id != branch.id:
            bad(line_no, values, "other_branch", "member_no",
                f"党员编号 {number} 已在其他支部 member number belongs to another branch")
            continue
        if existing is None:
            session.add(Member(branch_id=branch.id, **fields))
            report.created += 1
            continue
        if existing.name != fields["name"]:
            # a typo in the number would otherwise rename another member (and hand them
            # that member's fingerprints and committee seat): refused, to be checked
            bad(line_no, values, "name_mismatch", "member_no",
                f"党员编号 {number} 已登记为 {existing.name}，与本行姓名 {fields['name']} 不同：请核对编号；"
                f"确为改名请在花名册中编辑该党员 member number {number} belongs to {existing.name}")
            continue
        # Only what the row says changes: a column missing from the file, or left
        # empty, keeps the member's current value (phone, committee seat, ...).
        given = {k for k, v in values.items() if str(v or "").strip()}
        if "committee_role" in given:
            given.add("committee")
        for key, value in fields.items():
            if key in given:
                setattr(existing, key, value)
        existing.active = True
        report.updated += 1
    return report
