"""The audit trail, read-only: filter by who, what, which unit and when, and
export what a filter finds as CSV (the export itself is audited)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import Select, or_, select

from hub.api.deps import CurrentOperator, SessionDep, client_address
from hub.audit import labels
from hub.audit import service as audit
from hub.audit.models import AuditEntry
from hub.organisations.models import OrgUnit
from hub.organisations.service import get_visible

router = APIRouter(prefix="/api/v1", tags=["audit"])
EXPORT_ROWS = 50_000


class AuditRead(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str  # the code (filters, IT)
    action_zh: str  # the code in words (hub/audit/labels.py)
    action_en: str
    target: str
    branch_id: int | None
    address: str | None
    detail: dict
    detail_zh: str  # the detail in words: "事由：外出务工；党员：12"
    detail_en: str

    @classmethod
    def of(cls, e: AuditEntry) -> AuditRead:
        return cls(id=e.id, at=e.at, actor=e.actor, action=e.action, action_zh=labels.action_label(e.action, "zh"),
                   action_en=labels.action_label(e.action, "en"), target=e.target, branch_id=e.branch_id,
                   address=e.address, detail=e.detail or {}, detail_zh=labels.describe(e.detail, "zh"),
                   detail_en=labels.describe(e.detail, "en"))


class ActionLabel(BaseModel):
    code: str
    zh: str
    en: str


class AuditFilter(BaseModel):
    actor: str | None = None
    action: str | None = None
    unit_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def audit_filter(actor: Annotated[str | None, Query(max_length=100)] = None,
                 action: Annotated[str | None, Query(max_length=60)] = None,
                 unit_id: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="this unit and the units under it")] = None,
                 since: datetime | None = None, until: datetime | None = None) -> AuditFilter:
    return AuditFilter(actor=actor or None, action=action or None, unit_id=unit_id, since=since, until=until)


Filter = Annotated[AuditFilter, Depends(audit_filter)]


def _query(session: SessionDep, op: CurrentOperator, f: AuditFilter) -> Select[Any]:
    """Admins of the whole county see everything; others see the entries
    about units in their area."""
    stmt = select(AuditEntry).outerjoin(OrgUnit, OrgUnit.id == AuditEntry.branch_id).order_by(AuditEntry.id.desc())
    if op.is_admin and op.scope_path.count("/") == 2:
        stmt = stmt.where(or_(OrgUnit.id.is_(None), OrgUnit.path.startswith(op.scope_path)))
    else:
        stmt = stmt.where(OrgUnit.path.startswith(op.scope_path))
    if f.actor:
        stmt = stmt.where(AuditEntry.actor == f.actor)
    if f.action:
        stmt = stmt.where(AuditEntry.action == f.action)
    if f.unit_id is not None:
        stmt = stmt.where(OrgUnit.path.startswith(get_visible(session, op, f.unit_id).path))
    if f.since:
        stmt = stmt.where(AuditEntry.at >= f.since)
    if f.until:
        stmt = stmt.where(AuditEntry.at < f.until)
    return stmt


@router.get("/audit", response_model=list[AuditRead])
def list_audit(session: SessionDep, op: CurrentOperator, f: Filter,
               limit: Annotated[int, Query(ge=1, le=2000)] = 200) -> list[AuditRead]:
    """The audit trail, newest first: by who (`actor`), what (`action`),
    where (`unit_id`: the unit and its subtree) and when (`since`, `until`)."""
    return [AuditRead.of(e) for e in session.scalars(_query(session, op, f).limit(limit))]


@router.get("/audit/actions", response_model=list[str])
def audit_actions(session: SessionDep, op: CurrentOperator) -> list[str]:
    """The kinds of entry the trail holds (for the filter's choices)."""
    return sorted(set(session.scalars(select(AuditEntry.action).distinct())))


@router.get("/audit/action-labels", response_model=list[ActionLabel])
def audit_action_labels(session: SessionDep, op: CurrentOperator) -> list[ActionLabel]:
    """The kinds of entry the trail holds, each with its words (for the filter's choices)."""
    codes = sorted(set(session.scalars(select(AuditEntry.action).distinct())))
    return [ActionLabel(code=c, zh=labels.action_label(c, "zh"), en=labels.action_label(c, "en")) for c in codes]


@router.get("/audit/export.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}, "description": "UTF-8 CSV with BOM (opens in Excel)"}})
def export_audit(request: Request, session: SessionDep, op: CurrentOperator, f: Filter) -> Response:
    """What the same filter finds, as CSV (up to 50,000 rows, newest first)."""
    out = io.StringIO()
    writer = csv.writer(out)
    # Words first; the codes and the raw detail last, for IT and scripts.
    writer.writerow(["时间 time (UTC)", "操作人 actor", "操作 action", "对象 target", "单位 unit", "地址 address", "详情 detail",
                     "操作代码 action code", "详情原文 detail (JSON)"])
    rows = session.execute(_query(session, op, f).add_columns(OrgUnit.name).limit(EXPORT_ROWS)).all()
    for e, unit_name in rows:
        writer.writerow([e.at.isoformat(), e.actor, labels.action_label(e.action), e.target, unit_name or "",
                         e.address or "", labels.describe(e.detail), e.action,
                         json.dumps(e.detail, ensure_ascii=False, default=str)])
    audit.record(session, actor=op.username, action="audit_exported", address=client_address(request),
                 detail={**f.model_dump(mode="json", exclude_none=True), "rows": len(rows)})
    return Response("\ufeff" + out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="audit.csv"'})
