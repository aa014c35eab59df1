"""Helpers every supervision sub-package shares: the operator's area of
the tree, the county's calendar, XLSX writing, the settings."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from fastapi import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.auth.principal import OperatorPrincipal
from hub.db import utcnow
from hub.errors import Invalid
from hub.events import Event
from hub.organisations.models import OrgUnit
from hub.organisations.service import get_visible
from hub.supervision.compliance.periods import local_day

if TYPE_CHECKING:
    from hub.context import HubContext

log = logging.getLogger(__name__)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def today(offset_hours: float) -> date:
    return local_day(utcnow(), offset_hours)


def scope_unit(session: Session, op: OperatorPrincipal, unit_id: int | None) -> OrgUnit:
    """The unit a list or report is about: the one asked for (if visible),
    else the operator's own area."""
    unit = get_visible(session, op, unit_id if unit_id is not None else op.scope_id)
    return unit


@dataclass(frozen=True)
class Tree:
    """The units under one path, loaded once, with the township of each."""

    units: dict[int, OrgUnit]

    @classmethod
    def load(cls, session: Session, path: str) -> Tree:
        # Ancestors are needed to name a branch's township even when the
        # scope is the branch itself.
        rows = session.scalars(select(OrgUnit))
        units = {u.id: u for u in rows if u.path.startswith(path) or path.startswith(u.path)}
        return cls(units)

    def branches(self, path: str) -> list[OrgUnit]:
        return sorted((u for u in self.units.values() if u.kind == "branch" and u.path.startswith(path)),
                      key=lambda u: u.path)

    def township(self, unit: OrgUnit) -> OrgUnit | None:
        for uid in reversed([int(p) for p in unit.path.strip("/").split("/") if p]):
            u = self.units.get(uid)
            if u is not None and u.kind == "township":
                return u
        return None


def check_range(since: date, until: date) -> None:
    if until < since:
        raise Invalid(f"The period ends ({until}) before it starts ({since}); swap the dates.")
    if (until - since).days > 3 * 366:
        raise Invalid("Ask for at most three years at a time.")


def xlsx_bytes(sheets: Sequence[tuple[str, Sequence[str], Iterable[Sequence[Any]]]]) -> bytes:
    """A workbook with one sheet per (title, header, rows). Dates are real
    date cells shown as yyyy-mm-dd; the header row is bold and frozen."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    wb.remove(wb.active)
    for title, header, rows in sheets:
        ws = wb.create_sheet(title[:31])
        ws.append(list(header))
        for cell in ws[1]:
            cell.font = Font(bold=True)
        widths = [max(8, len(str(h)) * 2 + 2) for h in header]
        for row in rows:
            ws.append([_cell(v) for v in row])
            r = ws.max_row
            for i, v in enumerate(row):
                if isinstance(v, str) and v.startswith(FORMULA_START):
                    _as_text(ws.cell(r, i + 1))
                if isinstance(v, (date, datetime)):
                    ws.cell(r, i + 1).number_format = "yyyy-mm-dd" if not isinstance(v, datetime) else "yyyy-mm-dd hh:mm"
                widths[i] = min(60, max(widths[i], len(str(v)) * 2 if v is not None else 0))
        for i, w in enumerate(widths):
            ws.column_dimensions[get_column_letter(i + 1)].width = w
        ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# A cell the spreadsheet would run as a formula (a member named
# "=HYPERLINK(...)"): stored as text, and quote-prefixed so editing it in
# Excel or LibreOffice keeps it text (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _as_text(cell: Any) -> None:
    cell.data_type = "s"
    cell.quotePrefix = True


def _cell(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)  # Excel has no time zones; values are county time
    return value


def xlsx_response(data: bytes, filename: str) -> Response:
    from urllib.parse import quote

    return Response(data, media_type=XLSX,
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"})


def emit(ctx: HubContext, event: Event) -> None:
    """Publish from a worker thread; an app without a running loop (a
    script, a test without lifespan) just logs the event."""
    try:
        ctx.bus.publish_threadsafe(event)
    except RuntimeError:
        log.info("event not published (no running loop): %r", event)
