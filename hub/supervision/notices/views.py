"""Notice routes (/api/v1/supervision/notices)."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from hub.api.deps import Ctx, CurrentOperator, SessionDep
from hub.audit import service as audit
from hub.events import AlertRaised
from hub.supervision.common import emit, scope_unit, today, xlsx_bytes, xlsx_response
from hub.supervision.config import settings_for
from hub.supervision.notices import service
from hub.supervision.notices.models import Notice
from hub.supervision.notifications import service as notify

router = APIRouter(prefix="/api/v1/supervision/notices", tags=["supervision: notices"])


class NoticeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    period_start: date
    period_end: date
    unit_id: int | None = None
    title: str | None = Field(default=None, max_length=200)
    body: str = Field(default="", max_length=5000)


class NoticeItemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    item_id: int
    branch_id: int
    branch_name: str
    problem: str
    deadline: date
    responsible: str
    days_overdue: int
    closed_on: date | None


class NoticeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    scope_id: int
    scope_name: str = ""
    title: str
    period_start: date
    period_end: date
    body: str
    status: str
    created_by: str
    created_at: datetime
    published_by: str | None
    published_at: datetime | None
    items: list[NoticeItemRead] = []


def read(session: SessionDep, op: CurrentOperator, notice: Notice, scope_name: str) -> NoticeRead:
    out = NoticeRead.model_validate(notice)
    out.scope_name = scope_name
    out.items = [NoticeItemRead.model_validate(i) for i in service.items(session, op, notice)]
    return out


@router.post("", response_model=NoticeRead, status_code=201)
def draft(body: NoticeCreate, session: SessionDep, op: CurrentOperator, ctx: Ctx) -> NoticeRead:
    op.require_write()
    scope = scope_unit(session, op, body.unit_id)
    now = today(settings_for(ctx).utc_offset_hours)
    notice = service.draft(session, scope=scope, period_start=body.period_start, period_end=body.period_end, today=now,
                           created_by=op.username, title=body.title, body=body.body)
    audit.record(session, actor=op.username, action="notice_drafted", target=f"notice:{notice.id}", branch_id=scope.id,
                 detail=body.model_dump(mode="json"))
    return read(session, op, notice, scope.name)


@router.get("", response_model=list[NoticeRead])
def list_notices(session: SessionDep, op: CurrentOperator) -> list[NoticeRead]:
    return [read(session, op, n, s.name) for n, s in service.list_visible(session, op)]


@router.get("/{notice_id}", response_model=NoticeRead)
def get_notice(notice_id: int, session: SessionDep, op: CurrentOperator) -> NoticeRead:
    notice, scope = service.visible(session, op, notice_id)
    return read(session, op, notice, scope.name)


@router.post("/{notice_id}/publish", response_model=NoticeRead)
def publish(notice_id: int, session: SessionDep, op: CurrentOperator, ctx: Ctx) -> NoticeRead:
    """Publishing is the county's decision."""
    op.require_admin()
    notice, scope = service.visible(session, op, notice_id)
    service.publish(session, notice=notice, by=op.display_name or op.username)
    for branch_id in sorted({i.branch_id for i in service.items(session, op, notice)}):
        notify.to_secretaries(session, branch_id=branch_id, kind="notice", title="通报", text=f"{notice.title}：本支部有整改逾期事项被通报，请查看。",
                              dedupe=f"notice:{notice.id}:{branch_id}", created_by=op.username)
    audit.record(session, actor=op.username, action="notice_published", target=f"notice:{notice.id}", branch_id=scope.id)
    session.commit()
    emit(ctx, AlertRaised(None, "notice_published", notice.title))
    return read(session, op, notice, scope.name)


@router.delete("/{notice_id}", status_code=204)
def delete(notice_id: int, session: SessionDep, op: CurrentOperator) -> Response:
    op.require_write()
    notice, scope = service.visible(session, op, notice_id)
    if not op.can_see(scope.path):
        service.visible(session, op, -1)
    service.delete_draft(session, notice=notice)
    audit.record(session, actor=op.username, action="notice_deleted", target=f"notice:{notice_id}", branch_id=scope.id)
    return Response(status_code=204)


@router.get("/{notice_id}/export.xlsx")
def export(notice_id: int, session: SessionDep, op: CurrentOperator) -> Response:
    notice, scope = service.visible(session, op, notice_id)
    rows = service.items(session, op, notice)
    data = xlsx_bytes([("通报", service.NOTICE_HEADER, service.export_rows(rows))])
    audit.record(session, actor=op.username, action="notice_exported", target=f"notice:{notice.id}", branch_id=scope.id)
    return xlsx_response(data, f"通报-{notice.id}.xlsx")
