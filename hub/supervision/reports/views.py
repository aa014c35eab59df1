"""Report routes: JSON for the dashboard's charts, XLSX for reporting up."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Response

from hub.api.deps import Ctx, CurrentOperator, SessionDep
from hub.audit import service as audit
from hub.errors import Invalid
from hub.supervision.common import check_range, scope_unit, today, xlsx_bytes, xlsx_response
from hub.supervision.compliance.periods import parse_period_key
from hub.supervision.config import settings_for
from hub.supervision.reports import service

router = APIRouter(prefix="/api/v1/supervision/reports", tags=["supervision: reports"])


def _range(period: str | None, since: date | None, until: date | None) -> tuple[date, date]:
    if period:
        try:
            _, p = parse_period_key(period)
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        return p.start, p.end
    if since is None or until is None:
        raise Invalid("Give a period (2025-Q1, 2025-03, 2025) or both since and until.")
    check_range(since, until)
    return since, until


@router.get("")
def report(session: SessionDep, ctx: Ctx, op: CurrentOperator, period: str | None = None, since: date | None = None,
           until: date | None = None, unit_id: int | None = None) -> dict[str, Any]:
    start, end = _range(period, since, until)
    sup = settings_for(ctx)
    unit = scope_unit(session, op, unit_id)
    return service.build(session, ctx.settings, sup, unit=unit, since=start, until=end, today=today(sup.utc_offset_hours))


@router.get("/export.xlsx")
def export(session: SessionDep, ctx: Ctx, op: CurrentOperator, period: str | None = None, since: date | None = None,
           until: date | None = None, unit_id: int | None = None) -> Response:
    start, end = _range(period, since, until)
    sup = settings_for(ctx)
    unit = scope_unit(session, op, unit_id)
    data = service.build(session, ctx.settings, sup, unit=unit, since=start, until=end, today=today(sup.utc_offset_hours))
    audit.record(session, actor=op.username, action="report_exported", target=f"org_unit:{unit.id}", branch_id=unit.id,
                 detail={"since": str(start), "until": str(end)})
    return xlsx_response(xlsx_bytes(service.sheets(data)), f"督查报告-{unit.name}-{start}-{end}.xlsx")
